/* The public map: counties, precincts, polling places and their buffer zones from the public API, and a check of
 * any point (precinct, polling place, may I campaign / loiter here?).
 *
 * No inline script and no external request: configuration comes from data- attributes on #map (rendered and
 * escaped by Django), every URL is this site's own API, and base-map tiles are added only when the operator sets
 * MAP_TILE_URL. Text from the API is always inserted as text, never as HTML: the page builds DOM nodes with
 * textContent (el, asText), and Leaflet, which parses a string given as tooltip content as HTML, is only ever given
 * those nodes. The one place Leaflet takes nothing but HTML, the attribution control, gets escapeHtml.
 */
(function () {
  "use strict";

  var mapEl = document.getElementById("map");
  if (!mapEl) {
    return;
  }
  var statusEl = document.getElementById("map-status");
  if (typeof window.L === "undefined") {
    statusEl.textContent = "The map library did not load. The coordinate check below still works.";
    statusEl.classList.add("is-error");
  }

  var cfg = mapEl.dataset;
  var START_CENTER = [32.7, -89.7];
  var START_ZOOM = 7;
  var PRECINCT_MIN_ZOOM = 10;
  var PLACE_MIN_ZOOM = 11;
  var ZONE_MIN_ZOOM = 15;
  var ENTRANCE_MIN_ZOOM = 16;
  var ZONE_LABEL_MIN_ZOOM = 17;
  var CHECK_MIN_ZOOM = 17; // zoom the map to at least this when checking typed or located coordinates
  var MAX_ACCURACY_M = 1000; // the API's upper bound for accuracy_m
  var FT_PER_M = 3.280839895;

  var ACTIVITY_ORDER = ["campaigning", "loitering"];
  var ZONE_STYLES = {
    campaigning: { color: "#b3261e", weight: 2, dashArray: "10 6", fillColor: "#b3261e", fillOpacity: 0.1 },
    loitering: {
      color: "#5b2a86",
      weight: 3,
      dashArray: "1 6",
      lineCap: "round",
      fillColor: "#5b2a86",
      fillOpacity: 0.22,
    },
  };
  var ZONE_STYLE_OTHER = { color: "#1b1f23", weight: 2, dashArray: "4 4", fillOpacity: 0.1 };

  // ---- small helpers ----------------------------------------------------------------------------------------------

  /** An element with attributes and children (strings become text nodes: API text is never parsed as HTML). */
  function el(tag, attrs) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (key) {
        var value = attrs[key];
        if (value === null || value === undefined || value === false) {
          return;
        }
        if (key === "text") {
          node.textContent = value;
        } else if (key === "className") {
          node.className = value;
        } else {
          node.setAttribute(key, value === true ? "" : String(value));
        }
      });
    }
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined || child === false) {
        continue;
      }
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  /** Tooltip content that is text whatever it holds: Leaflet parses a string as HTML, so it is given a function
   * that builds a text-only node (called each time the tooltip opens). ``text`` may itself be a function, read
   * then. */
  function asText(text) {
    return function () {
      return el("span", { text: String(typeof text === "function" ? text() : text) });
    };
  }

  /** For Leaflet's attribution control only: it accepts nothing but HTML strings. */
  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  /** A value from the API made safe to use as (part of) a CSS class name. */
  function cssToken(value) {
    return String(value).replace(/[^A-Za-z0-9_-]/g, "");
  }

  function capitalize(text) {
    return text ? text.charAt(0).toUpperCase() + text.slice(1) : text;
  }

  function formatFt(ft) {
    var value = Number(ft);
    return (Math.round(value * 10) / 10).toLocaleString("en-US", { maximumFractionDigits: 1 });
  }

  function formatCoord(value) {
    return Number(value).toFixed(5);
  }

  function apiUrl(base, params) {
    var url = new URL(base, window.location.href);
    Object.keys(params || {}).forEach(function (key) {
      if (params[key] !== null && params[key] !== undefined) {
        url.searchParams.set(key, params[key]);
      }
    });
    return url;
  }

  /** GET JSON from this site's API. Rejects with an Error carrying the API's `detail`, `code` and the status. */
  function getJSON(url, signal) {
    return fetch(url, { signal: signal, credentials: "same-origin", headers: { Accept: "application/json" } }).then(
      function (response) {
        return response
          .json()
          .catch(function () {
            return null;
          })
          .then(function (body) {
            if (!response.ok) {
              var message =
                body && typeof body.detail === "string" ? body.detail : "The server answered " + response.status + ".";
              var error = new Error(message);
              error.status = response.status;
              error.code = body && body.code;
              throw error;
            }
            if (body === null) {
              throw new Error("The server's answer was not JSON.");
            }
            return body;
          });
      },
      function (error) {
        if (error && error.name === "AbortError") {
          throw error;
        }
        var wrapped = new Error("Could not reach the server. Check your connection and try again.");
        wrapped.network = true;
        throw wrapped;
      }
    );
  }

  function isAbort(error) {
    return error && error.name === "AbortError";
  }

  /** Keep only the path and query of a `next` link: pages come from this site, whatever host the server saw. */
  function sameOrigin(link) {
    var url = new URL(link, window.location.href);
    return new URL(url.pathname + url.search, window.location.href);
  }

  function debounce(fn, ms) {
    var timer = null;
    return function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(fn, ms);
    };
  }

  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  var DAY_MS = 86400000;
  var MAX_DAY_RANGES = 3;

  /** The days a zone applies on, compactly: "applies on Oct 20–Nov 2", "applies on Oct 20–24, Oct 27, Nov 3", or
   * beyond three runs of days "applies on 33 days, Sep 21–Oct 31".
   * ``dates`` is the zone's ``applies_on``: null or absent (every day) and anything but a list give null; entries
   * that are not ISO dates are skipped. */
  function appliesOn(dates) {
    if (!Array.isArray(dates)) {
      return null;
    }
    var days = [];
    dates.forEach(function (value) {
      var match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(String(value));
      if (!match) {
        return;
      }
      var time = Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]));
      var date = new Date(time);
      if (
        date.getUTCFullYear() !== Number(match[1]) ||
        date.getUTCMonth() !== Number(match[2]) - 1 ||
        date.getUTCDate() !== Number(match[3])
      ) {
        return; // not a day of the calendar (2026-02-30)
      }
      if (days.indexOf(time) < 0) {
        days.push(time);
      }
    });
    if (!days.length) {
      return dates.length ? null : "applies on no day";
    }
    days.sort(function (a, b) {
      return a - b;
    });
    var ranges = [];
    days.forEach(function (time) {
      var last = ranges[ranges.length - 1];
      if (last && time - last.end === DAY_MS) {
        last.end = time;
      } else {
        ranges.push({ start: time, end: time });
      }
    });
    var oneYear = new Date(days[0]).getUTCFullYear() === new Date(days[days.length - 1]).getUTCFullYear();
    var day = function (time, withMonth) {
      var date = new Date(time);
      return (
        (withMonth ? MONTHS[date.getUTCMonth()] + " " : "") +
        date.getUTCDate() +
        (oneYear ? "" : ", " + date.getUTCFullYear())
      );
    };
    var span = function (start, end) {
      if (start === end) {
        return day(start, true);
      }
      var sameMonth = oneYear && new Date(start).getUTCMonth() === new Date(end).getUTCMonth();
      return day(start, true) + "\u2013" + day(end, !sameMonth);
    };
    if (ranges.length > MAX_DAY_RANGES) {
      return "applies on " + days.length + " days, " + span(days[0], days[days.length - 1]);
    }
    return (
      "applies on " +
      ranges
        .map(function (range) {
          return span(range.start, range.end);
        })
        .join(", ")
    );
  }

  // ---- the result panel -------------------------------------------------------------------------------------------

  var resultEl = document.getElementById("result");
  var resultBody = document.getElementById("result-body");

  function showResult() {
    resultBody.replaceChildren.apply(resultBody, arguments);
  }

  function referenceText(zone) {
    switch (zone.reference) {
      case "entrances":
        return "the nearest entrance";
      case "building":
        return "the building";
      case "location":
        return "the polling place's mapped location";
      default:
        return "the polling place";
    }
  }

  function nearest(zones) {
    return zones.reduce(function (best, zone) {
      return best === null || Number(zone.distance_ft) < Number(best.distance_ft) ? zone : best;
    }, null);
  }

  /** One plain statement per activity, e.g. "Campaigning: PROHIBITED here (inside the 150 ft zone of X, ...)". */
  function verdictStatement(activity, verdict, zones, covered) {
    var mine = zones.filter(function (z) {
      return z.activity === activity;
    });
    var zone;
    var detail;
    if (verdict === "prohibited") {
      zone = nearest(
        mine.filter(function (z) {
          return z.status === "inside";
        })
      );
      detail = zone
        ? "inside the " +
          formatFt(zone.limit_ft) +
          " ft zone of " +
          zone.polling_place_name +
          ", " +
          formatFt(zone.distance_ft) +
          " ft from " +
          referenceText(zone)
        : "inside a " + activity + " zone";
    } else if (verdict === "uncertain" && !mine.some(function (z) { return z.status === "uncertain"; })) {
      // Not a GPS question: a zone drawn from a stand-in reference, or no geography here at all.
      zone = nearest(
        mine.filter(function (z) {
          return z.approximate;
        })
      );
      detail = zone
        ? "the " + formatFt(zone.limit_ft) + " ft zone of " + zone.polling_place_name +
          " is measured from something not mapped, so its true edge may be farther out; " +
          formatFt(zone.distance_ft) + " ft from " + referenceText(zone)
        : covered === false
          ? "outside the mapped precincts: there is no polling-place data here to decide"
          : "the data here cannot decide";
      zone = null;
    } else if (verdict === "uncertain") {
      zone = nearest(
        mine.filter(function (z) {
          return z.status === "uncertain";
        })
      );
      detail = zone
        ? "too close to the edge of the " +
          formatFt(zone.limit_ft) +
          " ft zone of " +
          zone.polling_place_name +
          " to tell with this location's accuracy: " +
          formatFt(zone.distance_ft) +
          " ft from " +
          referenceText(zone)
        : "too close to a zone's edge to tell with this location's accuracy";
    } else {
      zone = nearest(mine);
      detail = zone
        ? "outside every " +
          formatFt(zone.limit_ft) +
          " ft zone; the nearest is " +
          zone.polling_place_name +
          "'s, " +
          formatFt(zone.distance_ft) +
          " ft from " +
          referenceText(zone)
        : "no polling place's " + activity + " zone is nearby";
    }
    if (zone && zone.approximate) {
      detail += "; approximate, because what the rule measures from is not mapped for this polling place";
    }
    var word = { prohibited: "PROHIBITED", allowed: "ALLOWED", uncertain: "UNCERTAIN" }[verdict] || String(verdict);
    var p = el(
      "p",
      { className: "verdict verdict-" + verdict, "data-activity": activity, "data-verdict": verdict },
      el("strong", null, capitalize(activity) + ": " + word + " here"),
      " ",
      el("span", { className: "detail", text: "(" + detail + ")" })
    );
    if (zone && zone.citation && verdict !== "allowed") {
      p.appendChild(el("span", { className: "small", text: " " + zone.citation + "." }));
    }
    return p;
  }

  function formatElection(election) {
    var date = new Date(election.date + "T12:00:00");
    var day = isNaN(date.getTime())
      ? election.date
      : date.toLocaleDateString("en-US", { weekday: "long", year: "numeric", month: "long", day: "numeric" });
    return election.name + ": " + day + ", polls open " + election.polls_open + "–" + election.polls_close;
  }

  function renderLookup(lookup, lookupError, lon) {
    var facts = el("dl", { className: "facts" });
    function fact(term) {
      facts.appendChild(el("dt", { text: term }));
      var dd = el("dd");
      for (var i = 1; i < arguments.length; i++) {
        if (arguments[i] !== null && arguments[i] !== undefined) {
          dd.appendChild(typeof arguments[i] === "string" ? document.createTextNode(arguments[i]) : arguments[i]);
        }
      }
      facts.appendChild(dd);
    }
    if (lookupError) {
      var message =
        lookupError.code === "no_precinct"
          ? "No precinct here: this point is outside every precinct in the data."
          : "The precinct lookup failed: " + lookupError.message;
      if (lookupError.code === "no_precinct" && lon > 0) {
        message += " Longitudes in Mississippi are negative (west of Greenwich).";
      }
      fact("Precinct", el("span", { className: "error", "data-field": "precinct-error", text: message }));
      return facts;
    }
    var precinct = lookup.precinct;
    fact(
      "Precinct",
      el("span", { "data-field": "precinct-name", text: precinct.name }),
      ", code ",
      el("span", { "data-field": "precinct-code", text: precinct.code })
    );
    fact("County", el("span", { "data-field": "county", text: lookup.county.name + " County" }), " (FIPS " + lookup.county.fips + ")");
    var place = lookup.polling_place;
    var servedPlaces = lookup.places || [];
    if (place) {
      var accessible = (place.entrances || [])
        .filter(function (e) {
          return e.accessible && e.in_use;
        })
        .map(function (e) {
          return e.name;
        });
      fact(
        "Polling place for this precinct",
        el("strong", { "data-field": "polling-place", text: place.name }),
        el("br"),
        el("span", { "data-field": "address", text: place.address }),
        accessible.length ? el("br") : null,
        accessible.length ? "Accessible entrances: " + accessible.join(", ") + "." : null,
        place.accessibility_notes ? el("span", { className: "small", text: " " + place.accessibility_notes }) : null
      );
    } else if (
      servedPlaces.some(function (p) {
        return p.vote_center;
      })
    ) {
      fact(
        "Polling place for this precinct",
        el("span", { "data-field": "vote-centers", text: "Any of the county's vote centers listed below." })
      );
    } else {
      fact(
        "Polling place for this precinct",
        lookup.election ? "None assigned for this election." : "No upcoming election."
      );
    }
    if (lookup.election) {
      fact("Election", formatElection(lookup.election));
    }
    return [facts, renderPlaces(servedPlaces, lookup.election)];
  }

  function renderCompliance(compliance, complianceError) {
    if (complianceError) {
      return [
        el("p", {
          className: "error",
          "data-field": "compliance-error",
          text: "Could not check the buffer zones: " + complianceError.message,
        }),
      ];
    }
    var verdicts = compliance.verdicts || {};
    var activities = ACTIVITY_ORDER.filter(function (a) {
      return a in verdicts;
    }).concat(
      Object.keys(verdicts).filter(function (a) {
        return ACTIVITY_ORDER.indexOf(a) < 0;
      })
    );
    return activities.map(function (activity) {
      return verdictStatement(activity, verdicts[activity], compliance.zones || [], compliance.covered);
    });
  }

  // ---- the places serving the precinct ------------------------------------------------------------------------------

  /** How a place serves, in the order the list and the legend give them. A vote center is an election-day site any
   * voter of the county may use, so it gets its own badge and symbol instead of "election day". */
  var KIND_LABELS = {
    vote_center: "Vote center",
    election_day: "Election day",
    early_voting: "Early voting",
    drop_box: "Drop box",
  };

  function placeKinds(place) {
    var kinds = (place.kinds || []).slice();
    if (place.vote_center) {
      kinds = ["vote_center"].concat(
        kinds.filter(function (k) {
          return k !== "election_day";
        })
      );
    }
    return kinds;
  }

  /** The kind a place is drawn as (its symbol): the first of its kinds. */
  function symbolKind(place) {
    return placeKinds(place)[0] || "election_day";
  }

  function kindLabel(kind) {
    return KIND_LABELS[kind] || capitalize(String(kind).replace(/_/g, " "));
  }

  function formatDistance(metres) {
    if (metres === null || metres === undefined) {
      return null;
    }
    var miles = Number(metres) / 1609.344;
    if (miles < 0.1) {
      return Math.round(Number(metres) * FT_PER_M).toLocaleString("en-US") + " ft away";
    }
    return miles.toLocaleString("en-US", { maximumFractionDigits: 1 }) + " mi away";
  }

  /** A local date "2026-10-31" as "Saturday, October 31, 2026" (the date itself, whatever the browser's zone). */
  function formatDate(isoDate) {
    var parts = String(isoDate).split("-").map(Number);
    var date = new Date(Date.UTC(parts[0], parts[1] - 1, parts[2], 12));
    if (isNaN(date.getTime())) {
      return String(isoDate);
    }
    return date.toLocaleDateString("en-US", {
      weekday: "long",
      year: "numeric",
      month: "long",
      day: "numeric",
      timeZone: "UTC",
    });
  }

  /** An instant's wall-clock time and zone name in ``zone``: {time: "8:00 AM", zone: "CDT"}. Falls back to the
   * instant's own clock and UTC offset when the browser does not know the zone. */
  function localClock(iso, zone) {
    try {
      var parts = new Intl.DateTimeFormat("en-US", {
        hour: "numeric",
        minute: "2-digit",
        timeZone: zone,
        timeZoneName: "short",
      }).formatToParts(new Date(iso));
      var time = parts
        .filter(function (p) {
          return p.type !== "timeZoneName";
        })
        .map(function (p) {
          return p.value;
        })
        .join("")
        .trim();
      var name = parts.filter(function (p) {
        return p.type === "timeZoneName";
      })[0];
      return { time: time, zone: name ? name.value : zone };
    } catch (error) {
      var match = /T(\d\d):(\d\d)(?::\d\d(?:\.\d+)?)?([+-]\d\d:\d\d|Z)$/.exec(String(iso));
      if (!match) {
        return { time: String(iso), zone: "" };
      }
      return { time: match[1] + ":" + match[2], zone: match[3] === "Z" ? "UTC" : "UTC" + match[3] };
    }
  }

  /** "8:00 AM – 5:00 PM CDT"; "12:00 AM CDT – midnight CST" on the night the clocks change. */
  function formatOpening(opening) {
    var start = localClock(opening.starts_at, opening.timezone);
    var end = localClock(opening.ends_at, opening.timezone);
    var endTime = opening.closes === "00:00" ? "midnight" : end.time;
    if (start.zone === end.zone) {
      return start.time + " – " + endTime + " " + start.zone;
    }
    return start.time + " " + start.zone + " – " + endTime + " " + end.zone;
  }

  /** The hours grouped by local date: a list of dates, each with its openings. */
  function renderHours(hours) {
    var list = el("dl", { className: "hours", "data-field": "hours" });
    var byDate = [];
    (hours || []).forEach(function (opening) {
      var last = byDate[byDate.length - 1];
      if (last && last.date === opening.date) {
        last.openings.push(opening);
      } else {
        byDate.push({ date: opening.date, openings: [opening] });
      }
    });
    byDate.forEach(function (day) {
      list.appendChild(el("dt", { "data-date": day.date, text: formatDate(day.date) }));
      list.appendChild(el("dd", { text: day.openings.map(formatOpening).join(", ") }));
    });
    return list;
  }

  /** Every place that serves the precinct in the election: name, kinds, address, distance, open now and hours. */
  function renderPlaces(places, election) {
    var section = el("section", { className: "places", "aria-labelledby": "places-heading" });
    section.appendChild(el("h3", { id: "places-heading", text: "Where to vote or return a ballot" }));
    if (!places.length) {
      section.appendChild(
        el("p", {
          className: "small",
          "data-field": "no-places",
          text: election ? "No place serves this precinct in this election yet." : "No upcoming election.",
        })
      );
      return section;
    }
    var list = el("ol", { className: "places-list" });
    places.forEach(function (place) {
      var kinds = placeKinds(place);
      var located = place.lat !== null && place.lat !== undefined && place.lon !== null && place.lon !== undefined;
      var badges = el("span", { className: "badges" });
      kinds.forEach(function (kind) {
        badges.appendChild(
          el("span", { className: "badge badge-" + cssToken(kind), "data-kind": kind, text: kindLabel(kind) })
        );
      });
      badges.appendChild(
        el("span", {
          className: "badge " + (place.open_now ? "badge-open" : "badge-closed"),
          "data-field": "open-now",
          text: place.open_now ? "Open now" : "Closed now",
        })
      );
      var item = el(
        "li",
        { className: "place", "data-place": place.id, "data-kinds": kinds.join(" ") },
        el(
          "p",
          { className: "place-name" },
          el("span", { className: "kind-symbol kind-" + cssToken(symbolKind(place)), "aria-hidden": "true" }),
          el("strong", { "data-field": "place-name", text: place.name })
        ),
        badges,
        el("p", { className: "place-address", "data-field": "place-address", text: place.address }),
        located
          ? el("p", { className: "small", "data-field": "distance", text: formatDistance(place.distance_m) })
          : el("p", { className: "small not-mapped", "data-field": "not-mapped", text: "Location not mapped yet." }),
        place.hours && place.hours.length ? renderHours(place.hours) : null
      );
      if (located && map) {
        var show = el("button", {
          type: "button",
          className: "button show-place",
          text: "Show on the map",
          "aria-label": "Show on the map: " + place.name,
        });
        show.addEventListener("click", function () {
          showServedPlace(place);
        });
        item.appendChild(show);
      }
      list.appendChild(item);
    });
    section.appendChild(list);
    return section;
  }

  // ---- the map ----------------------------------------------------------------------------------------------------

  var map = null;
  var checkedLayer = null;
  var servedLayer = null;
  var servedMarkers = {};
  var placesById = {};
  var zoneDistances = {};

  if (window.L) {
    map = window.L.map(mapEl, {
      center: START_CENTER,
      zoom: START_ZOOM,
      minZoom: 5,
      maxZoom: 19,
      keyboard: true,
      zoomControl: true,
      attributionControl: true,
    });
    if (cfg.tileUrl) {
      window.L.tileLayer(cfg.tileUrl, {
        maxZoom: 19,
        attribution: escapeHtml(cfg.tileAttribution || ""),
        crossOrigin: false,
      }).addTo(map);
      mapEl.classList.add("has-tiles");
    }
    map.attributionControl.addAttribution(escapeHtml(cfg.dataAttribution || ""));

    // Panes inside the overlay pane, bottom to top: counties, precincts, zones, polling places.
    var overlayPane = map.getPane("overlayPane");
    [
      ["counties", 401],
      ["precincts", 402],
      ["zones", 403],
      ["places", 404],
    ].forEach(function (pane) {
      map.createPane(pane[0], overlayPane).style.zIndex = pane[1];
    });
    // The places serving the checked point's precinct, above the boundaries and zones, below the checked point.
    map.createPane("served").style.zIndex = 550;
    checkedLayer = window.L.layerGroup().addTo(map);
    servedLayer = window.L.layerGroup().addTo(map);
  }

  /** A layer fetched for the current view (with a margin), refetched on moveend when the view leaves what was
   * loaded or the zoom changes its level of detail. Stale requests are aborted. */
  function ViewLayer(options) {
    this.options = options;
    this.group = window.L.layerGroup();
    this.loaded = null; // {bounds, tier}
    this.controller = null;
    this.count = 0;
    this.truncated = false;
    this.loading = false;
    this.error = null;
  }

  ViewLayer.prototype.refresh = function () {
    var options = this.options;
    var zoom = map.getZoom();
    if (zoom < options.minZoom) {
      this.abort();
      map.removeLayer(this.group);
      return;
    }
    var view = map.getBounds();
    var tier = options.tier ? options.tier(zoom) : 0;
    if (this.loaded && this.loaded.tier === tier && this.loaded.bounds.contains(view)) {
      this.group.addTo(map);
      if (options.onShow) {
        options.onShow();
      }
      return;
    }
    this.abort();
    var bounds = view.pad(0.25);
    var round = function (value, up) {
      return (up ? Math.ceil(value * 1000) : Math.floor(value * 1000)) / 1000;
    };
    var west = Math.max(round(bounds.getWest(), false), -180);
    var south = Math.max(round(bounds.getSouth(), false), -90);
    var east = Math.min(round(bounds.getEast(), true), 180);
    var north = Math.min(round(bounds.getNorth(), true), 90);
    var params = Object.assign({ bbox: [west, south, east, north].join(",") }, options.params ? options.params(zoom) : {});
    var controller = new AbortController();
    this.controller = controller;
    this.loading = true;
    this.error = null;
    updateStatus();
    var self = this;
    var features = [];
    var pages = 0;
    var truncated = false;
    function load(url) {
      return getJSON(url, controller.signal).then(function (body) {
        features = features.concat(body.features || []);
        pages += 1;
        truncated = truncated || body.truncated === true;
        if (body.next) {
          if (pages < (options.maxPages || 1)) {
            return load(sameOrigin(body.next));
          }
          truncated = true;
        }
        return null;
      });
    }
    load(apiUrl(options.url, params))
      .then(function () {
        if (controller.signal.aborted) {
          return;
        }
        self.group.clearLayers();
        options.build(features, self.group);
        self.count = features.length;
        self.truncated = truncated;
        self.loaded = { bounds: window.L.latLngBounds([south, west], [north, east]), tier: tier };
        self.loading = false;
        self.controller = null;
        if (map.getZoom() >= options.minZoom) {
          self.group.addTo(map);
          if (options.onShow) {
            options.onShow();
          }
        }
        updateStatus();
      })
      .catch(function (error) {
        if (isAbort(error)) {
          return;
        }
        self.loading = false;
        self.controller = null;
        self.error = error.message;
        updateStatus();
      });
  };

  ViewLayer.prototype.abort = function () {
    if (this.controller) {
      this.controller.abort();
      this.controller = null;
    }
    this.loading = false;
  };

  ViewLayer.prototype.visible = function () {
    return map.hasLayer(this.group);
  };

  /** Boundary simplification for the zoom: about half a screen pixel in metres, none when zoomed right in. */
  function simplifyFor(zoom) {
    if (zoom >= 16) {
      return 0;
    }
    var metresPerPixel = (156543.03 * Math.cos((32.7 * Math.PI) / 180)) / Math.pow(2, zoom);
    return Math.max(1, Math.round(metresPerPixel / 2));
  }

  var countiesLayer = null;
  var precincts = null;
  var places = null;
  var zones = null;
  var entrancesGroup = null;

  if (map) {
    precincts = new ViewLayer({
      name: "precincts",
      url: cfg.precinctsUrl,
      minZoom: PRECINCT_MIN_ZOOM,
      maxPages: 5,
      tier: simplifyFor,
      params: function (zoom) {
        return { simplify: simplifyFor(zoom), limit: 1000 };
      },
      build: function (features, group) {
        window.L.geoJSON(
          { type: "FeatureCollection", features: features },
          {
            pane: "precincts",
            style: { color: "#2f6f8f", weight: 1.2, opacity: 0.9, fill: true, fillOpacity: 0 },
            onEachFeature: function (feature, layer) {
              var p = feature.properties || {};
              layer.bindTooltip(asText("Precinct " + p.name + (p.county ? ", " + p.county.name + " County" : "")), {
                sticky: true,
              });
            },
          }
        ).addTo(group);
      },
    });

    entrancesGroup = window.L.layerGroup();
    places = new ViewLayer({
      name: "polling places",
      url: cfg.placesUrl,
      minZoom: PLACE_MIN_ZOOM,
      maxPages: 1,
      params: function () {
        return { limit: 2000 };
      },
      build: function (features, group) {
        entrancesGroup.clearLayers();
        placesById = {};
        features.forEach(function (feature) {
          var p = feature.properties || {};
          var coords = feature.geometry && feature.geometry.coordinates;
          if (!coords) {
            return;
          }
          placesById[feature.id] = p;
          placeMarker(feature.id, p, coords[1], coords[0]).addTo(group);
          (p.entrances || []).forEach(function (entrance) {
            window.L.circleMarker([entrance.lat, entrance.lon], {
              pane: "places",
              radius: 4,
              color: "#ffffff",
              weight: 1,
              fillColor: "#1b1f23",
              fillOpacity: 1,
            })
              .bindTooltip(
                asText(
                  entrance.name +
                    (entrance.accessible ? " (accessible)" : "") +
                    (entrance.in_use ? "" : " (not in use)") +
                    " — " +
                    p.name
                ),
                { direction: "top" }
              )
              .addTo(entrancesGroup);
          });
        });
        syncEntrances();
      },
      // The entrances follow the places onto the map: on a first load straight at a high zoom (a shared link),
      // build runs before the places are shown, so syncEntrances must run again once they are.
      onShow: function () {
        syncEntrances();
      },
    });

    zones = new ViewLayer({
      name: "buffer zones",
      url: cfg.zonesUrl,
      minZoom: ZONE_MIN_ZOOM,
      maxPages: 1,
      params: function () {
        return { limit: 300 };
      },
      build: function (features, group) {
        // Wider zones first so the narrower ones are drawn on top.
        var sorted = features.slice().sort(function (a, b) {
          return (b.properties.distance_ft || 0) - (a.properties.distance_ft || 0);
        });
        sorted.forEach(function (feature) {
          var p = feature.properties || {};
          if (p.activity && p.distance_ft && !(p.activity in zoneDistances)) {
            zoneDistances[p.activity] = p.distance_ft;
          }
          // Named when the tooltip opens, not when the zone is drawn: the places may arrive after the zones.
          var days = appliesOn(p.applies_on);
          var zoneText = function () {
            var place = placesById[p.polling_place];
            var notes = [p.approximate ? "approximate" : null, days].filter(Boolean);
            return (
              (p.label || "Buffer zone") + (place ? " — " + place.name : "") + (notes.length ? " (" + notes.join("; ") + ")" : "")
            );
          };
          var style = Object.assign({ pane: "zones" }, ZONE_STYLES[p.activity] || ZONE_STYLE_OTHER);
          window.L.geoJSON(feature, {
            pane: "zones",
            style: function () {
              return style;
            },
            onEachFeature: function (_feature, layer) {
              layer.bindTooltip(asText(zoneText), { sticky: true });
              layer.zoneLabel = formatFt(p.distance_ft) + " ft: no " + p.activity;
              layer.zoneActivity = p.activity;
            },
          }).addTo(group);
        });
        syncZoneLabels();
        updateLegend();
      },
      onShow: function () {
        syncZoneLabels();
      },
    });
  }

  /** Permanent text labels on the zones when zoomed in far enough to read them: campaigning above, loitering below. */
  var zoneLabels = null;
  function syncZoneLabels() {
    if (!map) {
      return;
    }
    if (!zoneLabels) {
      zoneLabels = window.L.layerGroup();
    }
    zoneLabels.clearLayers();
    if (map.getZoom() < ZONE_LABEL_MIN_ZOOM || !zones.visible()) {
      map.removeLayer(zoneLabels);
      return;
    }
    zones.group.eachLayer(function (geojsonLayer) {
      geojsonLayer.eachLayer(function (layer) {
        if (!layer.zoneLabel || !layer.getBounds) {
          return;
        }
        var b = layer.getBounds();
        var below = layer.zoneActivity === "loitering";
        var at = below ? [b.getSouth(), b.getCenter().lng] : [b.getNorth(), b.getCenter().lng];
        window.L.tooltip({
          permanent: true,
          direction: below ? "bottom" : "top",
          className: "zone-label zone-label-" + cssToken(layer.zoneActivity),
          interactive: false,
          pane: "tooltipPane",
        })
          .setLatLng(at)
          .setContent(asText(layer.zoneLabel))
          .addTo(zoneLabels);
      });
    });
    zoneLabels.addTo(map);
  }

  function syncEntrances() {
    if (!map || !entrancesGroup) {
      return;
    }
    if (map.getZoom() >= ENTRANCE_MIN_ZOOM && places.visible()) {
      entrancesGroup.addTo(map);
    } else {
      map.removeLayer(entrancesGroup);
    }
  }

  function updateLegend() {
    document.querySelectorAll(".zone-distance").forEach(function (span) {
      var ft = zoneDistances[span.getAttribute("data-activity")];
      span.textContent = ft ? "(" + formatFt(ft) + " ft)" : "";
    });
  }

  function updateStatus() {
    if (!map) {
      return;
    }
    var zoom = map.getZoom();
    var parts = [];
    var errors = [];
    [precincts, places, zones].forEach(function (layer) {
      if (layer.error && zoom >= layer.options.minZoom) {
        errors.push("Could not load " + layer.options.name + ": " + layer.error);
      }
    });
    var loading = [precincts, places, zones].filter(function (layer) {
      return layer.loading;
    });
    if (countiesLayer === null && !countiesError) {
      parts.push("Loading counties…");
    } else if (loading.length) {
      parts.push(
        "Loading " +
          loading
            .map(function (layer) {
              return layer.options.name;
            })
            .join(" and ") +
          "…"
      );
    } else if (zoom < PRECINCT_MIN_ZOOM) {
      parts.push("Zoom in to see precincts and polling places.");
    } else if (zoom < PLACE_MIN_ZOOM) {
      parts.push("Zoom in to see polling places.");
    } else if (zoom < ZONE_MIN_ZOOM) {
      parts.push("Zoom in further to see the buffer zones.");
    } else if (precincts.truncated) {
      parts.push("Showing some precincts only; zoom in to see them all.");
    }
    if (countiesError) {
      errors.push("Could not load counties: " + countiesError);
    }
    mapEl.setAttribute("data-loading", loading.length ? "true" : "false");
    statusEl.textContent = errors.length ? errors.join(" ") : parts.join(" ");
    statusEl.classList.toggle("is-error", errors.length > 0);
  }

  var countiesError = null;

  function loadCounties() {
    getJSON(apiUrl(cfg.countiesUrl, { simplify: 200, limit: 500 }))
      .then(function (body) {
        countiesLayer = window.L.geoJSON(body, {
          pane: "counties",
          interactive: false,
          style: function () {
            return {
              color: "#3d4650",
              weight: map.getZoom() >= PRECINCT_MIN_ZOOM ? 2.5 : 1,
              opacity: 0.9,
              fillColor: "#f7f3e8",
              fillOpacity: cfg.tileUrl ? 0.05 : 1,
            };
          },
        }).addTo(map);
        mapEl.setAttribute("data-counties", String((body.features || []).length));
        updateStatus();
      })
      .catch(function (error) {
        countiesError = error.message;
        countiesLayer = null;
        updateStatus();
      });
  }

  function refreshLayers() {
    if (countiesLayer) {
      countiesLayer.setStyle(countiesLayer.options.style);
    }
    precincts.refresh();
    places.refresh();
    zones.refresh();
    syncEntrances();
    syncZoneLabels();
    updateStatus();
  }

  // ---- every polling place on the map: a symbol per kind, a popup with its kinds and hours -------------------------

  /** What the lookups answered about places, by election: "electionId:placeId" → the place as a lookup lists it (its
   * kinds in that election, vote center or not, its hours). A place's hours and kinds in an election do not depend on
   * the precinct it serves, so any lookup in that election tells them. */
  var servedByElection = {};
  /** The election the lookup answers for when no election is picked (learned from such a lookup). */
  var defaultElectionId = null;
  var openPlaceMarker = null;

  function keepServed(lookup) {
    if (!lookup || !lookup.election) {
      return;
    }
    (lookup.places || []).forEach(function (place) {
      servedByElection[lookup.election.id + ":" + place.id] = { place: place, election: lookup.election };
    });
  }

  /** The election the map shows places for: the one picked, or else the lookup's default (once known). */
  function electionInView() {
    return electionSelect.value || (defaultElectionId === null ? null : String(defaultElectionId));
  }

  /** The kinds of a place in the layer, in words: "Early voting, Drop box". */
  function kindWords(kinds) {
    return kinds.map(kindLabel).join(", ");
  }

  /** A polling place of the all-places layer: one symbol per kind, side by side (the legend's own symbols, drawn by
   * CSS), a keyboard-focusable button named by its name and kinds, a label on hover or focus and a popup on click or
   * Enter. */
  function placeMarker(id, p, lat, lon) {
    var kinds = (p.kinds || []).length ? p.kinds : ["election_day"];
    var stack = el("span", { className: "kind-stack", "aria-hidden": "true" });
    kinds.forEach(function (kind) {
      stack.appendChild(el("span", { className: "kind-symbol kind-" + cssToken(kind) }));
    });
    var width = 16 * kinds.length + 2 * (kinds.length - 1);
    var label = p.name + " (" + kindWords(kinds) + ")";
    var marker = window.L.marker([lat, lon], {
      pane: "places",
      icon: window.L.divIcon({
        className: "place-marker",
        html: stack,
        iconSize: [width, 16],
        iconAnchor: [width / 2, 8],
        tooltipAnchor: [0, -8],
        popupAnchor: [0, -8],
      }),
      keyboard: true,
      riseOnHover: true,
    })
      .bindTooltip(asText(p.name + (p.address ? " — " + p.address : "")), { direction: "top" })
      .bindPopup(placePopup(id, p, lat, lon), {
        maxWidth: 320,
        minWidth: 220,
        className: "place-popup",
        // Clear of the zoom buttons and the status line over the map's top edge.
        autoPanPaddingTopLeft: [60, 56],
        autoPanPaddingBottomRight: [16, 16],
      });
    marker.on("add", function () {
      var node = marker.getElement();
      if (node) {
        node.setAttribute("aria-label", label);
        node.setAttribute("data-place", String(id));
        node.setAttribute("data-kinds", kinds.join(" "));
        node.addEventListener("keydown", closeOnEscape);
      }
    });
    function closeOnEscape(event) {
      if (event.key === "Escape" && marker.isPopupOpen()) {
        event.preventDefault();
        event.stopPropagation();
        marker.closePopup();
      }
    }
    marker.on("popupopen", function (event) {
      openPlaceMarker = marker;
      var container = event.popup.getElement();
      if (container && !container.closesOnEscape) {
        // Leaflet closes a popup on Escape only while the map itself has the focus, not a control inside the popup.
        container.addEventListener("keydown", function (keyEvent) {
          if (keyEvent.key === "Escape" && openPlaceMarker) {
            keyEvent.preventDefault();
            keyEvent.stopPropagation();
            openPlaceMarker.closePopup();
          }
        });
        container.closesOnEscape = true;
      }
      // A popup opened by Enter gets the focus, so a screen reader reads it; Escape or its close button hands it back.
      var heading = event.popup.getElement() && event.popup.getElement().querySelector(".popup-name");
      if (heading && document.activeElement === marker.getElement()) {
        heading.focus({ preventScroll: true });
      }
    });
    marker.on("popupclose", function (event) {
      if (openPlaceMarker === marker) {
        openPlaceMarker = null;
      }
      var popupEl = event.popup.getElement();
      var node = marker.getElement();
      if (node && popupEl && (popupEl.contains(document.activeElement) || document.activeElement === document.body)) {
        node.focus({ preventScroll: true });
      }
    });
    return marker;
  }

  /** The popup's content, made each time it opens: the place's name, address and kinds, and its hours in the
   * election shown when a lookup told them (the polling-places layer carries no hours: they belong to an election). */
  function placePopup(id, p, lat, lon) {
    return function () {
      var electionId = electionInView();
      var key = electionId + ":" + id;
      var known = electionId === null ? null : servedByElection[key] || askedByElection[key];
      if (electionId !== null && !known && !(key in asking)) {
        askHours(id, electionId);
      }
      var kinds = known ? placeKinds(known.place) : (p.kinds || []).length ? p.kinds : ["election_day"];
      var node = el(
        "div",
        { className: "place-popup-body", "data-place": String(id) },
        el("p", { className: "popup-name", tabindex: "-1" }, el("strong", { "data-field": "popup-name", text: p.name })),
        p.address ? el("p", { className: "place-address", "data-field": "popup-address", text: p.address }) : null
      );
      var list = el("ul", { className: "popup-kinds", "data-field": "popup-kinds", "aria-label": "Kinds of place" });
      kinds.forEach(function (kind) {
        list.appendChild(
          el(
            "li",
            { "data-kind": kind },
            el("span", { className: "kind-symbol kind-" + cssToken(kind), "aria-hidden": "true" }),
            kindLabel(kind)
          )
        );
      });
      node.appendChild(list);
      if (known) {
        node.appendChild(
          el("p", {
            className: "small popup-hours-heading",
            "data-field": "popup-election",
            text: "Hours for " + known.election.name + (known.place.open_now ? " (open now):" : " (closed now):"),
          })
        );
        node.appendChild(
          known.place.hours && known.place.hours.length
            ? renderHours(known.place.hours)
            : el("p", { className: "small", "data-field": "popup-no-hours", text: "No hours given." })
        );
        return node;
      }
      node.appendChild(
        el("p", {
          className: "small",
          "data-field": "popup-no-hours",
          text: "Its hours in the chosen election are shown once you check a spot this place serves.",
        })
      );
      var checkHere = el("button", { type: "button", className: "button popup-check", text: "Check this spot" });
      checkHere.addEventListener("click", function () {
        fillForm(lat, lon);
        check(lat, lon, {});
      });
      node.appendChild(checkHere);
      return node;
    };
  }

  /** What the place's own page in the API answered for an election ("electionId:placeId" → as a lookup lists a place),
   * and the requests on their way. Asked when a popup opens for a place no lookup has listed in the election shown. */
  var askedByElection = {};
  var asking = {};

  function askHours(id, electionId) {
    var key = electionId + ":" + id;
    asking[key] = true;
    getJSON(apiUrl(cfg.placesUrl + encodeURIComponent(String(id)) + "/", { election: electionId }))
      .then(function (feature) {
        var p = feature.properties || {};
        var now = Date.now();
        var hours = Array.isArray(p.hours) ? p.hours : [];
        askedByElection[key] = {
          place: {
            kinds: p.kinds || [],
            vote_center: p.vote_center === true,
            hours: hours,
            open_now: hours.some(function (h) {
              return Date.parse(h.starts_at) <= now && now < Date.parse(h.ends_at);
            }),
          },
          election: { id: electionId, name: electionName(electionId) },
        };
        refreshOpenPopup();
      })
      .catch(function () {
        // The popup keeps offering "Check this spot"; asked again when it next opens.
      })
      .then(function () {
        delete asking[key];
      });
  }

  /** The name of an election in the picker ("the election shown" until the list has loaded). */
  function electionName(electionId) {
    var option = Array.prototype.find.call(electionSelect.options, function (o) {
      return o.value === String(electionId);
    });
    return option ? option.getAttribute("data-name") || option.textContent : "the election shown";
  }

  /** After a lookup, an open popup is made again: it may now know the place's hours. */
  function refreshOpenPopup() {
    if (!openPlaceMarker || !openPlaceMarker.isPopupOpen()) {
      return;
    }
    var popup = openPlaceMarker.getPopup();
    var hadFocus = popup.getElement() && popup.getElement().contains(document.activeElement);
    popup.update();
    var heading = hadFocus && popup.getElement().querySelector(".popup-name");
    if (heading) {
      heading.focus({ preventScroll: true });
    }
  }

  // ---- the places serving the checked precinct on the map -----------------------------------------------------------

  /** Draw the lookup's located places, each kind with its own symbol (a CSS shape: nothing is downloaded). The
   * markers are keyboard-focusable buttons (Leaflet's role) named by aria-label, their label opens on hover,
   * and Enter or a click picks the place out in the result list. */
  function drawServed(places) {
    if (!map) {
      return;
    }
    servedLayer.clearLayers();
    servedMarkers = {};
    (places || []).forEach(function (place) {
      if (place.lat === null || place.lat === undefined || place.lon === null || place.lon === undefined) {
        return;
      }
      var kinds = placeKinds(place);
      var label =
        place.name +
        " (" +
        kinds.map(kindLabel).join(", ") +
        (place.open_now ? "; open now" : "; closed now") +
        ")";
      var marker = window.L.marker([place.lat, place.lon], {
        pane: "served",
        icon: window.L.divIcon({
          className: "kind-marker kind-" + cssToken(symbolKind(place)),
          html: "",
          iconSize: [22, 22],
          iconAnchor: [11, 11],
          tooltipAnchor: [0, -11],
        }),
        keyboard: true,
        riseOnHover: true,
      })
        .bindTooltip(asText(label + (place.address ? " — " + place.address : "")), { direction: "top" })
        .addTo(servedLayer);
      var node = marker.getElement();
      if (node) {
        node.setAttribute("aria-label", label);
        node.setAttribute("data-place", String(place.id));
        node.setAttribute("data-kind", symbolKind(place));
      }
      marker.on("click", function () {
        selectListed(place.id);
      });
      servedMarkers[place.id] = marker;
    });
  }

  /** Highlight a place in the result list (from its marker) and bring it into view. */
  function selectListed(id) {
    document.querySelectorAll("#result-body .place.is-selected").forEach(function (item) {
      item.classList.remove("is-selected");
    });
    var item = document.querySelector('#result-body .place[data-place="' + cssToken(id) + '"]');
    if (item) {
      item.classList.add("is-selected");
      if (item.scrollIntoView) {
        item.scrollIntoView({ block: "nearest" });
      }
    }
  }

  /** From the list: centre the map on a place, open its label and give its marker the keyboard focus. */
  function showServedPlace(place) {
    if (!map) {
      return;
    }
    map.setView([place.lat, place.lon], Math.max(map.getZoom(), ZONE_LABEL_MIN_ZOOM + 1), { animate: false });
    var marker = servedMarkers[place.id];
    if (marker) {
      marker.openTooltip();
      var node = marker.getElement();
      if (node) {
        node.focus({ preventScroll: true });
      }
    }
    selectListed(place.id);
  }

  // ---- checking a point -------------------------------------------------------------------------------------------

  var checkController = null;
  var checkedMarker = null;
  var lastCheck = null;
  var WIDE = window.matchMedia ? window.matchMedia("(min-width: 48.01rem)") : null;

  function placeCheckedMarker(lat, lon, accuracy) {
    if (!map) {
      return;
    }
    checkedLayer.clearLayers();
    if (accuracy) {
      window.L.circle([lat, lon], {
        radius: accuracy,
        color: "#2a81cb",
        weight: 1,
        dashArray: "3 3",
        fillOpacity: 0.08,
        interactive: false,
      }).addTo(checkedLayer);
    }
    checkedMarker = window.L.marker([lat, lon], {
      keyboard: false,
      title: "Checked point " + formatCoord(lat) + ", " + formatCoord(lon),
      alt: "Checked point",
      interactive: false,
    }).addTo(checkedLayer);
  }

  /** A short summary next to the marker, so the answer is visible on the map too (the panel has the details). */
  function summariseOnMap(compliance) {
    if (!checkedMarker || !compliance || !compliance.verdicts) {
      return;
    }
    var activities = Object.keys(compliance.verdicts);
    var summary = function () {
      var node = el("span");
      activities.forEach(function (activity, i) {
        var verdict = String(compliance.verdicts[activity]);
        if (i > 0) {
          node.appendChild(el("br"));
        }
        node.appendChild(
          el("span", {
            className: "summary-" + cssToken(verdict),
            text: capitalize(activity) + ": " + verdict.toUpperCase(),
          })
        );
      });
      return node;
    };
    checkedMarker
      .bindTooltip(summary, {
        permanent: true,
        // Beside the pin where there is room, above it on a phone.
        direction: WIDE && WIDE.matches ? "right" : "top",
        offset: WIDE && WIDE.matches ? [14, -22] : [0, -40],
        className: "check-summary",
        pane: "popupPane",
        interactive: false,
      })
      .openTooltip();
  }

  /** Look up the precinct and polling place and check both activities at a point; show it in the result panel. */
  function check(lat, lon, options) {
    options = options || {};
    lastCheck = { lat: lat, lon: lon, accuracy: options.accuracy };
    if (checkController) {
      checkController.abort();
    }
    var controller = new AbortController();
    checkController = controller;
    placeCheckedMarker(lat, lon, options.accuracy);
    drawServed([]);
    if (map && options.pan) {
      map.setView([lat, lon], Math.max(map.getZoom(), CHECK_MIN_ZOOM));
    }
    var where = formatCoord(lat) + ", " + formatCoord(lon);
    resultEl.setAttribute("aria-busy", "true");
    resultEl.setAttribute("data-state", "loading");
    showResult(el("p", { text: "Checking " + where + "…" }));
    writeFragment();
    var coords = { lat: lat.toFixed(7), lon: lon.toFixed(7) };
    var signal = controller.signal;
    var complianceParams = Object.assign({}, coords);
    if (options.accuracy) {
      complianceParams.accuracy_m = Math.min(options.accuracy, MAX_ACCURACY_M).toFixed(1);
    }
    var settle = function (promise) {
      return promise.then(
        function (value) {
          return { value: value };
        },
        function (error) {
          return { error: error };
        }
      );
    };
    var picked = electionSelect.value || null;
    return Promise.all([
      // The election picked, or none: the lookup's own default, the next upcoming election.
      settle(getJSON(apiUrl(cfg.lookupUrl, Object.assign({ election: picked }, coords)), signal)),
      settle(getJSON(apiUrl(cfg.complianceUrl, complianceParams), signal)),
    ]).then(function (results) {
      if (controller.signal.aborted) {
        return;
      }
      checkController = null;
      var lookup = results[0];
      var compliance = results[1];
      var children = [
        el(
          "p",
          { className: "coords" },
          "At ",
          el("strong", { text: where }),
          options.accuracy ? " (location accurate to about " + Math.round(options.accuracy) + " m)" : null
        ),
      ];
      if (options.accuracy && options.accuracy > MAX_ACCURACY_M) {
        children.push(
          el("p", {
            className: "small",
            text: "Your location is imprecise; it was checked as if accurate to " + MAX_ACCURACY_M + " m.",
          })
        );
      }
      var sameError =
        lookup.error && compliance.error && lookup.error.message === compliance.error.message && lookup.error.code !== "no_precinct";
      if (sameError) {
        children.push(el("p", { className: "error", "data-field": "error", text: lookup.error.message }));
      } else {
        children = children.concat(renderCompliance(compliance.value, compliance.error));
        children = children.concat(renderLookup(lookup.value, lookup.error, lon));
      }
      showResult.apply(null, children);
      resultEl.removeAttribute("aria-busy");
      resultEl.setAttribute("data-state", "done");
      summariseOnMap(compliance.value);
      drawServed(lookup.value ? lookup.value.places : []);
      if (lookup.value) {
        keepServed(lookup.value);
        if (picked === null) {
          defaultElectionId = lookup.value.election ? lookup.value.election.id : null;
        }
      }
      refreshOpenPopup();
      if (WIDE && WIDE.matches && resultEl.scrollIntoView) {
        // Wide layout: only the side panel scrolls, so this brings the answer into view without moving the page.
        resultEl.scrollIntoView({ block: "nearest" });
      }
    });
  }

  // ---- the coordinate form ----------------------------------------------------------------------------------------

  var form = document.getElementById("check-form");
  var latInput = document.getElementById("lat");
  var lonInput = document.getElementById("lon");
  var NUMBER = "[+\\-\\u2212]?(?:\\d+(?:\\.\\d*)?|\\.\\d+)";
  var PAIR = new RegExp("^\\s*(" + NUMBER + ")\\s*(?:[,;]\\s*|\\s+)(" + NUMBER + ")\\s*$");

  function parseNumber(text) {
    var cleaned = String(text).trim().replace(/\u2212/g, "-");
    if (!new RegExp("^" + NUMBER + "$").test(cleaned)) {
      return NaN;
    }
    return parseFloat(cleaned);
  }

  /** "32.2988, -90.1848" typed or pasted into the latitude box: split it into both boxes. */
  function splitPair() {
    var match = PAIR.exec(latInput.value);
    if (match) {
      latInput.value = match[1];
      lonInput.value = match[2];
      return true;
    }
    return false;
  }

  function setFieldError(input, message) {
    var error = document.getElementById(input.id + "-error");
    if (message) {
      input.setAttribute("aria-invalid", "true");
      error.textContent = message;
      error.hidden = false;
    } else {
      input.removeAttribute("aria-invalid");
      error.textContent = "";
      error.hidden = true;
    }
  }

  function validate() {
    splitPair();
    var lat = parseNumber(latInput.value);
    var lon = parseNumber(lonInput.value);
    var latError = null;
    var lonError = null;
    if (latInput.value.trim() === "") {
      latError = "Enter a latitude.";
    } else if (isNaN(lat)) {
      latError = "Enter the latitude as a decimal number, for example 32.2988.";
    } else if (lat < -90 || lat > 90) {
      latError = "Latitude must be between -90 and 90.";
      if (Math.abs(lon) <= 90) {
        latError += " Did you swap latitude and longitude?";
      }
    }
    if (lonInput.value.trim() === "") {
      lonError = "Enter a longitude.";
    } else if (isNaN(lon)) {
      lonError = "Enter the longitude as a decimal number, for example -90.1848.";
    } else if (lon < -180 || lon > 180) {
      lonError = "Longitude must be between -180 and 180.";
    }
    setFieldError(latInput, latError);
    setFieldError(lonInput, lonError);
    if (latError) {
      latInput.focus();
    } else if (lonError) {
      lonInput.focus();
    }
    return latError || lonError ? null : { lat: lat, lon: lon };
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var value = validate();
    if (value) {
      check(value.lat, value.lon, { pan: true });
    }
  });
  latInput.addEventListener("change", splitPair);
  latInput.addEventListener("paste", function () {
    window.setTimeout(splitPair, 0);
  });

  function fillForm(lat, lon) {
    latInput.value = lat.toFixed(6);
    lonInput.value = lon.toFixed(6);
    setFieldError(latInput, null);
    setFieldError(lonInput, null);
  }

  // ---- the election picker -----------------------------------------------------------------------------------------

  var electionSelect = document.getElementById("election");
  var electionHint = document.getElementById("election-hint");
  var ELECTION_PAGES = 5;

  /** Fill the picker from the elections API (every page up to a bound); its first option, the lookup's own default,
   * stays selected. */
  function loadElections() {
    var elections = [];
    var pages = 0;
    function load(url) {
      return getJSON(url).then(function (body) {
        elections = elections.concat(body.results || []);
        pages += 1;
        if (body.next && pages < ELECTION_PAGES) {
          return load(sameOrigin(body.next));
        }
        return null;
      });
    }
    return load(apiUrl(cfg.electionsUrl, { limit: 500 }))
      .then(function () {
        elections.forEach(function (election) {
          electionSelect.appendChild(
            el("option", {
              value: String(election.id),
              "data-name": election.name,
              text: election.name + " — " + formatDate(election.date) + " (" + election.state + ")",
            })
          );
        });
        electionSelect.setAttribute("data-loaded", String(elections.length));
      })
      .catch(function (error) {
        electionHint.textContent =
          "Could not load the list of elections (" + error.message + "); places are shown for the next upcoming one.";
        electionHint.classList.add("error");
        electionSelect.setAttribute("data-loaded", "error");
      });
  }

  electionSelect.addEventListener("change", function () {
    if (lastCheck) {
      check(lastCheck.lat, lastCheck.lon, { accuracy: lastCheck.accuracy });
    } else {
      writeFragment();
    }
    refreshOpenPopup();
  });
  var electionsReady = loadElections();

  function isElectionListed(id) {
    return Array.prototype.some.call(electionSelect.options, function (option) {
      return option.value !== "" && option.value === id;
    });
  }

  // ---- the shareable link -----------------------------------------------------------------------------------------

  /** The map's link keeps the point checked and the election picked: "#32.298800,-90.184800&election=12". Either
   * part may be missing; parts are read in any order and anything else is ignored, so an old "#lat,lon" link, a
   * skip link's "#result" or garbage never breaks the page. */
  function readFragment(hash) {
    var found = { point: null, election: null };
    String(hash || "")
      .replace(/^#/, "")
      .split("&")
      .forEach(function (part) {
        var text;
        try {
          text = decodeURIComponent(part);
        } catch (error) {
          return; // a malformed %-escape: ignore that part
        }
        var pair = PAIR.exec(text);
        if (pair) {
          var lat = parseNumber(pair[1]);
          var lon = parseNumber(pair[2]);
          if (lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180) {
            found.point = { lat: lat, lon: lon };
          }
          return;
        }
        var election = /^\s*election=([1-9][0-9]{0,15})\s*$/.exec(text);
        if (election) {
          found.election = election[1];
        }
      });
    return found;
  }

  function writeFragment() {
    if (!window.history || !window.history.replaceState) {
      return;
    }
    var parts = [];
    if (lastCheck) {
      parts.push(lastCheck.lat.toFixed(6) + "," + lastCheck.lon.toFixed(6));
    }
    if (electionSelect.value) {
      parts.push("election=" + encodeURIComponent(electionSelect.value));
    }
    if (parts.length) {
      window.history.replaceState(null, "", "#" + parts.join("&"));
    } else if (readFragment(window.location.hash).election !== null) {
      window.history.replaceState(null, "", window.location.pathname + window.location.search);
    }
  }

  /** Open a link: pick its election once the list is loaded (one not listed is ignored), then check its point. */
  function followLink(fragment, options) {
    if (!fragment.point && fragment.election === null) {
      return;
    }
    var follow = function () {
      if (options.unlessUsed && lastCheck) {
        return; // the visitor checked a spot while the elections loaded: theirs wins
      }
      var election = fragment.election !== null && isElectionListed(fragment.election) ? fragment.election : "";
      var changed = electionSelect.value !== election;
      electionSelect.value = election;
      if (fragment.point) {
        fillForm(fragment.point.lat, fragment.point.lon);
        check(fragment.point.lat, fragment.point.lon, { pan: true });
      } else if (lastCheck && changed) {
        check(lastCheck.lat, lastCheck.lon, { accuracy: lastCheck.accuracy });
      } else {
        writeFragment();
      }
    };
    if (fragment.election === null) {
      follow(); // an old link: the point is checked at once, for the default election
    } else {
      electionsReady.then(follow);
    }
  }

  // ---- my location ------------------------------------------------------------------------------------------------

  var locateButton = document.getElementById("locate");
  locateButton.addEventListener("click", function () {
    if (!("geolocation" in navigator)) {
      showResult(
        el("p", {
          className: "error",
          text: window.isSecureContext
            ? "This browser cannot share its location. Enter coordinates instead."
            : "Browsers share your location only with sites served over HTTPS. Enter coordinates instead.",
        })
      );
      return;
    }
    locateButton.disabled = true;
    showResult(el("p", { text: "Finding your location… (your browser may ask for permission)" }));
    navigator.geolocation.getCurrentPosition(
      function (position) {
        locateButton.disabled = false;
        var lat = position.coords.latitude;
        var lon = position.coords.longitude;
        fillForm(lat, lon);
        check(lat, lon, { pan: true, accuracy: Math.max(position.coords.accuracy || 0, 0) });
      },
      function (error) {
        locateButton.disabled = false;
        var message = {
          1: "You did not allow this page to use your location. Enter coordinates or click the map instead.",
          2: "Your location is not available right now. Enter coordinates or click the map instead.",
          3: "Finding your location took too long. Try again, or enter coordinates instead.",
        }[error.code];
        showResult(el("p", { className: "error", "data-field": "location-error", text: message || error.message }));
      },
      { enableHighAccuracy: true, timeout: 20000, maximumAge: 0 }
    );
  });

  // ---- wiring -----------------------------------------------------------------------------------------------------

  var centreButton = document.getElementById("check-centre");
  if (map) {
    loadCounties();
    map.on("moveend", debounce(refreshLayers, 200));
    map.on("zoomend", function () {
      syncEntrances();
      syncZoneLabels();
    });
    map.on("click", function (event) {
      var lat = event.latlng.lat;
      var lon = event.latlng.lng;
      fillForm(lat, lon);
      check(lat, lon, {});
    });
    // Enter (or Space) on the focused map checks the point under the cross-hair at its centre.
    mapEl.addEventListener("keydown", function (event) {
      if (event.target !== mapEl || (event.key !== "Enter" && event.key !== " ")) {
        return;
      }
      event.preventDefault();
      var centre = map.getCenter();
      fillForm(centre.lat, centre.lng);
      check(centre.lat, centre.lng, {});
    });
    centreButton.addEventListener("click", function () {
      var centre = map.getCenter();
      fillForm(centre.lat, centre.lng);
      check(centre.lat, centre.lng, {});
    });
    updateStatus();
  } else {
    centreButton.hidden = true;
  }

  // A link such as /map/#32.2988,-90.1848&election=12 opens the map at that point and checks it in that election;
  // one pasted into the address bar of an open map is followed too.
  followLink(readFragment(window.location.hash), { unlessUsed: true });
  window.addEventListener("hashchange", function () {
    var fragment = readFragment(window.location.hash);
    if (fragment.point || fragment.election !== null) {
      followLink(fragment, {});
    } else {
      writeFragment(); // a skip link's "#result": the page has scrolled to it; the link keeps the map's state
    }
  });

  // For tests and debugging: the Leaflet map object.
  window.pollingMap = map;
})();
