// The poll worker's tablet app: set-up (enrolment), sign-in, credential check (offline), check-in/out queued in
// IndexedDB and synced, the place's credential holders cached for names, typed serials and quota warnings, the
// freshness of what the tablet knows, the paper fallback, sign-out after inactivity. Vanilla ES modules; no inline
// script or style (the site's CSP).
import * as api from "./api.js";
import * as store from "./store.js";
import {Scanner} from "./scan.js";
import {DETAILS, KIND_LABELS, verifyOffline} from "./token.js";

const $ = (id) => document.getElementById(id);
const app = $("app");
const GENUINE_FAILURES = new Set(["malformed", "unknown_key", "bad_signature"]);
const MAX_BATCH = 500;
// A bare serial as printed under the QR code: ten Crockford base32 characters, often written 5-5.
const SERIAL = /^[0-9A-HJKMNP-TV-Z]{5}-?[0-9A-HJKMNP-TV-Z]{5}$/u;
const seconds = (name, fallback) => {
  const value = Number(app.dataset[name]);
  return Number.isFinite(value) && value > 0 ? value : fallback;
};
const IDLE_MS = seconds("idleSignOutS", 900) * 1000;
const STALE_MS = seconds("staleAfterS", 1800) * 1000;

const state = {
  device: null,
  session: null,
  place: null,
  // The verdict on screen and the token it is for: what "Check in" and "Check out" record. ``check`` numbers the
  // checks: an answer that arrives for an earlier one (a slow server, a slow disk) is dropped, never shown.
  verdict: null,
  token: "",
  check: 0,
  recording: false,
  syncing: null,
  syncAgain: false,
  location: null, // the tablet's position for the incident being written, when given
  lastActive: Date.now(),
};

// --- screens ------------------------------------------------------------------------------------------------------

function show(name) {
  for (const screen of document.querySelectorAll(".screen")) screen.hidden = screen.id !== `screen-${name}`;
  app.dataset.state = name;
  const heading = document.querySelector(`#screen-${name} h2`);
  if (heading) heading.focus();
}

function setText(id, text) {
  $(id).textContent = text ?? "";
}

function renderNetwork() {
  const online = navigator.onLine;
  $("net").dataset.online = String(online);
  setText("net", online ? "Online" : "Offline — working from this tablet's copy");
  for (const button of document.querySelectorAll("[data-needs-network]")) button.disabled = !online;
}

function formatTime(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : date.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"});
}

function formatSerial(serial) {
  return serial ? `${serial.slice(0, 5)}-${serial.slice(5)}` : "";
}

// --- start ----------------------------------------------------------------------------------------------------------

async function start() {
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register(app.dataset.swUrl, {scope: app.dataset.scope}).catch((error) => {
      console.warn("service worker not registered", error);
    });
  }
  renderNetwork();
  window.addEventListener("online", () => {
    renderNetwork();
    syncNow();
  });
  window.addEventListener("offline", renderNetwork);
  bindForms();
  watchActivity();

  state.device = await store.get("device");
  state.session = await store.get("session");
  state.place = await store.get("place");
  if (!state.device) return show("setup");
  if (state.session && (await idleTooLong())) return signOut("Signed out: the tablet was not used for a while.");
  if (!state.session || new Date(state.session.expires_at) <= new Date()) return showSignin();
  await showCheckin();
  if (navigator.onLine) syncNow();
}

async function showSignin(message = "") {
  const device = state.device;
  setText("device-info", `Tablet “${device.label}” of polling place ${device.polling_place}.`);
  setText("signin-error", message);
  const waiting = (await pending()).length;
  setText(
    "signin-queue",
    waiting ? `${waiting} event(s) recorded on this tablet wait to be sent: they are sent after the next sign-in.` : "",
  );
  show("signin");
  await renderQueueCount();
}

async function showCheckin() {
  const place = state.place;
  setText(
    "place-info",
    `${place?.name || `Polling place ${state.device.polling_place}`} · signed in as ${state.session.username}`,
  );
  hideVerdict();
  show("checkin");
  await renderLists();
}

// --- inactivity -----------------------------------------------------------------------------------------------------

function watchActivity() {
  let saved = 0;
  const touched = () => {
    state.lastActive = Date.now();
    // Kept on the tablet too (at most every 10 s): a browser reopened after a long pause starts signed out.
    if (state.lastActive - saved > 10_000) {
      saved = state.lastActive;
      store.put("lastActive", state.lastActive).catch(() => {});
    }
  };
  for (const type of ["pointerdown", "keydown", "touchstart"]) {
    document.addEventListener(type, touched, {passive: true, capture: true});
  }
  setInterval(
    () => {
      if (state.session && Date.now() - state.lastActive >= IDLE_MS) {
        signOut(`Signed out after ${Math.round(IDLE_MS / 60_000) || 1} minute(s) without use.`);
      }
      renderFreshness();
    },
    Math.max(250, Math.min(IDLE_MS / 4, STALE_MS / 4, 15_000)),
  );
}

async function idleTooLong() {
  const last = (await store.get("lastActive")) || 0;
  state.lastActive = Math.max(state.lastActive, last);
  return last > 0 && Date.now() - last >= IDLE_MS;
}

// --- set-up and sign-in ---------------------------------------------------------------------------------------------

function bindForms() {
  $("setup-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const code = $("enrol-code").value.trim();
    if (!code) return setText("setup-error", "Enter the enrolment code.");
    setText("setup-error", "Enrolling…");
    try {
      const device = await api.enrol(code);
      await store.put("device", device);
      state.device = device;
      setText("setup-error", "");
      await showSignin();
    } catch (error) {
      setText("setup-error", error instanceof api.OfflineError ? "Enrolling needs the network." : error.message);
    }
  });

  $("signin-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const username = $("username").value.trim();
    const password = $("password").value;
    if (!username || !password) return setText("signin-error", "Enter your user name and password.");
    setText("signin-error", "Signing in…");
    try {
      const issued = await api.signIn({username, password, device: state.device});
      state.session = {
        token: issued.token,
        expires_at: issued.expires_at,
        username,
        deviceId: state.device.device_id,
      };
      state.lastActive = Date.now();
      await store.put("lastActive", state.lastActive);
      await store.put("session", state.session);
      $("password").value = "";
      $("username").value = "";
      if (!state.place || state.place.id !== state.device.polling_place || state.place.lon === undefined) {
        const feature = await api.pollingPlace(state.device.polling_place);
        state.place = {
          id: feature.id,
          name: feature.properties.name,
          county_fips: feature.properties.county.fips,
          lon: feature.geometry.coordinates[0],
          lat: feature.geometry.coordinates[1],
        };
        await store.put("place", state.place);
      }
      setText("signin-error", "");
      await showCheckin();
      await syncNow();
    } catch (error) {
      setText("signin-error", error instanceof api.OfflineError ? "Signing in needs the network." : error.message);
    }
  });

  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    checkToken($("token").value);
  });
  $("check-in").addEventListener("click", () => record("check_in"));
  $("check-out").addEventListener("click", () => record("check_out"));
  $("sync-now").addEventListener("click", () => syncNow());
  $("sign-out").addEventListener("click", () => signOut("Signed out. Events not yet sent stay on this tablet."));
  $("scan-start").addEventListener("click", startScan);
  $("scan-stop").addEventListener("click", () => stopScan(""));
  $("incident-open").addEventListener("click", openIncident);
  $("incident-cancel").addEventListener("click", () => showCheckin());
  $("incident-locate").addEventListener("click", locate);
  $("incident-form").addEventListener("submit", (event) => {
    event.preventDefault();
    saveIncident();
  });
  $("paper-roster").addEventListener("click", () => paper("roster"));
  $("paper-log").addEventListener("click", () => paper("log"));
}

async function signOut(message) {
  stopScan("");
  const session = state.session;
  state.session = null;
  state.check += 1; // an answer still on its way is for nobody now
  hideVerdict();
  await store.del("session");
  if (session && navigator.onLine) api.signOut(session).catch(() => {});
  await showSignin(message);
}

// --- the camera -----------------------------------------------------------------------------------------------------

let scanner = null;

function scanShown(running) {
  $("scan-video").hidden = !running;
  $("scan-start").hidden = running;
  $("scan-stop").hidden = !running;
}

async function startScan() {
  if (!navigator.mediaDevices?.getUserMedia) {
    return setText("scan-status", "This browser cannot use a camera here: type the code.");
  }
  scanner ||= new Scanner($("scan-video"), (text) => {
    scanShown(false);
    setText("scan-status", "Code read.");
    $("token").value = text;
    checkToken(text);
  });
  if (scanner.running) return;
  setText("scan-status", "Starting the camera…");
  scanShown(true);
  try {
    await scanner.start();
    $("scan").dataset.engine = scanner.engine;
    if (scanner.running) setText("scan-status", "Hold the QR code in front of the camera.");
  } catch (error) {
    scanner.stop();
    scanShown(false);
    setText("scan-status", `The camera could not be used (${error.name || error.message}): type the code.`);
  }
}

function stopScan(message) {
  scanner?.stop();
  scanShown(false);
  setText("scan-status", message);
}

// --- checking a credential ------------------------------------------------------------------------------------------

/** Name, kind, appointer and validity of a serial, as last seen online or in the place's list of holders. */
async function holdersBySerial() {
  const [list, seen] = await Promise.all([store.get("holderList"), store.get("holders")]);
  const map = new Map();
  for (const c of list?.credentials || []) map.set(c.serial, c);
  for (const [serial, c] of Object.entries(seen || {})) map.set(serial, {...map.get(serial), ...c});
  return map;
}

async function checkToken(raw) {
  const id = ++state.check;
  // Nothing may be recorded until this check's own verdict is on screen.
  state.verdict = null;
  state.token = "";
  hideVerdict();
  const typed = raw.replace(/\s+/gu, "").toUpperCase();
  let token = typed;
  let fromSerial = false;
  if (SERIAL.test(typed)) {
    // A bare serial cannot be verified: only the signed text can. The tablet can if it has seen that credential's
    // full code before (checked here earlier); otherwise it shows whose serial it is and asks for the code.
    const serial = typed.replace("-", "");
    const known = ((await store.get("tokens")) || {})[serial];
    if (id !== state.check) return;
    if (!known) {
      const holder = (await holdersBySerial()).get(serial);
      if (id !== state.check) return;
      return renderSerialOnly(serial, holder);
    }
    token = known;
    fromSerial = true;
  }
  let verdict = await verifyHere(token);
  if (id !== state.check) return;
  if (verdict.reason === "unknown_key" && navigator.onLine) {
    // A key made since the last sync: fetch the public keys (no sign-in needed) and check again.
    try {
      await store.put("keys", await api.keys());
      verdict = await verifyHere(token);
    } catch (error) {
      console.warn("keys not refreshed", error);
    }
    if (id !== state.check) return;
  }
  if (verdict.claims && !GENUINE_FAILURES.has(verdict.reason)) await rememberToken(verdict.claims.serial, token);
  const holders = await holdersBySerial();
  const quota = verdict.valid ? await quotaWarning(verdict.claims, holders) : "";
  if (id !== state.check) return;
  state.token = token;
  state.verdict = verdict;
  renderVerdict(verdict, verdict.claims ? holders.get(verdict.claims.serial) : null, {fromSerial, quota});
  if (verdict.claims && navigator.onLine && state.session) {
    // Online: the server adds the latest revocations and its word stands if it knows more.
    try {
      const answer = await api.verify(state.session, token, state.device.polling_place);
      if (id !== state.check) return;
      if (answer.credential) await learnHolder(answer.credential);
      if (id !== state.check) return;
      const confirmed =
        answer.valid !== verdict.valid || (answer.reason || null) !== verdict.reason
          ? {...verdict, valid: answer.valid, reason: answer.reason, detail: answer.detail}
          : verdict;
      state.verdict = confirmed;
      const holder = (await holdersBySerial()).get(verdict.claims.serial);
      if (id !== state.check) return;
      renderVerdict(confirmed, holder, {fromSerial, quota: confirmed.valid ? quota : "", confirmed: true});
    } catch (error) {
      if (error instanceof api.ApiError && error.status === 401) await sessionEnded(error);
    }
  }
}

async function rememberToken(serial, token) {
  const tokens = (await store.get("tokens")) || {};
  if (tokens[serial] !== token) {
    tokens[serial] = token;
    await store.put("tokens", tokens);
  }
}

async function learnHolder(credential) {
  const holders = (await store.get("holders")) || {};
  holders[credential.serial] = {...holders[credential.serial], ...credential};
  await store.put("holders", holders);
}

async function verifyHere(token) {
  const [keys, revoked, scopeHashes, roster] = await Promise.all([
    store.get("keys"),
    store.get("revoked"),
    store.get("scopeHashes"),
    store.get("roster"),
  ]);
  return verifyOffline(token, {
    keys,
    at: new Date(),
    electionId: roster?.election ?? state.device.election,
    placeId: state.device.polling_place,
    countyFips: state.place?.county_fips,
    scopeHashes,
    revoked,
  });
}

/** Who is inside by this tablet's reckoning: the roster of the last sync, then the events not yet sent. */
async function localInside() {
  const roster = await store.get("roster");
  const inside = new Map((roster?.inside || []).map((p) => [p.serial, p]));
  for (const e of await pending()) {
    if (e.kind === "check_in") inside.set(e.serial, {serial: e.serial, kind: e.credential_kind});
    else inside.delete(e.serial);
  }
  return inside;
}

function groupOf(person) {
  if (!person) return null;
  return person.quota_group || (person.appointed_by_name || "").trim().toLowerCase();
}

/** A warning (never a refusal) when checking this holder in passes a quota of the state by the local roster. The
 * server decides at sync: a check-in over the quota is recorded and flagged for the county. */
async function quotaWarning(claims, holders) {
  const list = await store.get("holderList");
  const holder = holders.get(claims.serial);
  const rules = (list?.quota_rules || []).filter(
    (r) => r.credential_kind === claims.kind && (r.per === "kind" || r.per === holder?.appointed_by_kind),
  );
  if (!rules.length) return "";
  const inside = await localInside();
  if (inside.has(claims.serial)) return "";
  for (const rule of rules) {
    if (rule.per !== "kind" && !holder) continue; // whose party is unknown: cannot count
    const count = [...inside.values()].filter((p) => {
      const other = {...p, ...holders.get(p.serial)};
      if (other.kind !== claims.kind) return false;
      return rule.per === "kind" || (other.appointed_by_kind === rule.per && groupOf(other) === groupOf(holder));
    }).length;
    if (count >= rule.max_inside) {
      const whose = rule.per === "kind" ? KIND_LABELS[claims.kind] : `${holder.appointed_by_name}`;
      return (
        `Quota full: ${count} of ${rule.max_inside} allowed for ${whose} are inside already. ` +
        "You may still check this person in; the county will review it."
      );
    }
  }
  return "";
}

function hideVerdict() {
  $("verdict").hidden = true;
  $("check-in").disabled = true;
  $("check-out").disabled = true;
}

function renderHolder(holder, claims) {
  setText("holder-name", holder?.holder_name || (claims ? "Name not on this tablet yet (shown after a sync)" : "—"));
  const kind = claims?.kind || holder?.kind;
  setText("holder-kind", kind ? KIND_LABELS[kind] : "—");
  setText(
    "holder-party",
    holder?.appointed_by_name ? `${holder.appointed_by_name} (${holder.appointed_by_kind})` : "—",
  );
  setText("holder-serial", formatSerial(claims?.serial || holder?.serial) || "—");
  const from = claims?.validFrom || (holder?.valid_from && new Date(holder.valid_from));
  const until = claims?.validUntil || (holder?.valid_until && new Date(holder.valid_until));
  setText("holder-validity", from && until ? `${from.toLocaleString()} – ${until.toLocaleString()}` : "—");
}

function renderVerdict(verdict, holder, {fromSerial = false, quota = "", confirmed = false} = {}) {
  const box = $("verdict");
  box.dataset.valid = String(verdict.valid);
  box.dataset.reason = verdict.reason || "";
  box.dataset.confirmed = String(confirmed);
  box.dataset.quota = quota ? "full" : "";
  setText("verdict-heading", verdict.valid ? "Valid — admit" : `Refused: ${verdict.reason.replaceAll("_", " ")}`);
  const via = fromSerial ? " (Checked with the code this tablet saw earlier for this serial.)" : "";
  setText("verdict-detail", (verdict.detail || DETAILS[verdict.reason]) + via);
  setText("quota-warning", quota);
  $("quota-warning").hidden = !quota;
  const claims = verdict.claims;
  renderHolder(holder, claims);
  // A check-in needs a valid credential; a check-out only a genuine one (nobody is kept inside by an expiry).
  // The buttons are set in the same step as the verdict they act on, and the box shown last.
  $("check-in").disabled = !verdict.valid;
  $("check-out").disabled = !claims || GENUINE_FAILURES.has(verdict.reason);
  box.hidden = false;
}

function renderSerialOnly(serial, holder) {
  const box = $("verdict");
  box.dataset.valid = "false";
  box.dataset.reason = "serial_only";
  box.dataset.confirmed = "false";
  box.dataset.quota = "";
  setText("verdict-heading", holder ? "Type the full code" : "Unknown serial");
  setText(
    "verdict-detail",
    holder
      ? "A serial alone cannot be verified: type or scan the whole code printed under the QR code."
      : "No credential with this serial is valid at this polling place (as of the last sync). Type or scan the " +
          "whole code printed under the QR code.",
  );
  setText("quota-warning", "");
  $("quota-warning").hidden = true;
  renderHolder(holder ? {...holder, serial} : {serial}, null);
  if (holder?.revoked) setText("holder-party", `${$("holder-party").textContent} · revoked`);
  $("check-in").disabled = true;
  $("check-out").disabled = true;
  box.hidden = false;
}

// --- recording and syncing ------------------------------------------------------------------------------------------

let seq = 0;

async function record(kind) {
  // Everything the event is made of is taken now, at the tap: nothing a later check changes.
  const {verdict, token, check, session} = state;
  if (!verdict?.claims || !session || state.recording) return;
  state.recording = true;
  $("check-in").disabled = true;
  $("check-out").disabled = true;
  try {
    const holder = (await holdersBySerial()).get(verdict.claims.serial);
    const event = {
      event_id: crypto.randomUUID(),
      kind,
      token,
      occurred_at: new Date().toISOString(),
      recorded_by: session.username,
      serial: verdict.claims.serial,
      credential_kind: verdict.claims.kind,
      holder_name: holder?.holder_name || "",
      seq: Date.now() * 1000 + (seq++ % 1000),
      status: "queued",
      result: null,
    };
    // Stored first: once this resolves the event survives a reload, a killed browser or a dead battery.
    await store.putEvent(event);
  } finally {
    state.recording = false;
  }
  if (state.check === check) {
    // Still the check on screen: done with it (a late server answer for it is dropped).
    state.check += 1;
    state.verdict = null;
    state.token = "";
    hideVerdict();
    $("token").value = "";
    $("token").focus();
  }
  await renderLists();
  if (navigator.onLine) syncNow();
}

async function pending() {
  return (await store.allEvents()).filter((e) => e.status === "queued");
}

/** Send the queue. A call while a sync runs asks for one more pass after it: an event stored after the running pass
 * read the queue is never left behind until the next trigger. "done" is shown only once every pass asked for has
 * run, and each finished sync counts up ``data-syncs`` (what a waiting person, or test, can tell apart). */
function syncNow() {
  if (!state.session) return Promise.resolve();
  setText("sync-status", "Sending…");
  $("sync-status").dataset.state = "busy";
  if (state.syncing) {
    state.syncAgain = true;
    return state.syncing;
  }
  state.syncing = (async () => {
    let failed = null;
    do {
      state.syncAgain = false;
      failed = await runSync();
      await renderLists();
    } while (state.syncAgain && state.session && navigator.onLine);
    const status = $("sync-status");
    status.dataset.syncs = String(Number(status.dataset.syncs || 0) + 1);
    if (!failed) {
      setText("sync-status", `Last sync ${new Date().toLocaleTimeString()}.`);
      status.dataset.state = "done";
    } else {
      status.dataset.state = "failed";
      if (failed instanceof api.OfflineError) setText("sync-status", failed.message);
      else if (failed instanceof api.ApiError && failed.status === 401) await sessionEnded(failed);
      else setText("sync-status", `Sync failed: ${failed.message}`);
    }
  })().finally(() => {
    state.syncing = null;
    // Asked for in the last moments of this sync (after the loop's last look): run it now.
    if (state.syncAgain && state.session && navigator.onLine) syncNow();
  });
  return state.syncing;
}

/** One pass: the queue in batches, then the list of holders. Returns the error that stopped it, or null. */
async function runSync() {
  try {
    let queued = await pending();
    do {
      const batch = queued.slice(0, MAX_BATCH);
      const answer = await api.sync(state.session, {
        sent_at: new Date().toISOString(),
        since: (await store.get("since")) || null,
        events: batch.map((e) => ({
          event_id: e.event_id,
          kind: e.kind,
          token: e.token,
          occurred_at: e.occurred_at,
          recorded_by: e.recorded_by,
        })),
      });
      await absorb(answer, batch);
      queued = queued.slice(MAX_BATCH);
    } while (queued.length);
    await sendIncidents();
    try {
      await refreshHolders();
    } catch (error) {
      // The events are sent: a list of names that cannot be had (another server version, a role without it) only
      // leaves the names as they were; a network cut or an ended session still ends the sync.
      if (error instanceof api.OfflineError || (error instanceof api.ApiError && error.status === 401)) throw error;
      console.warn("names not refreshed", error);
    }
    return null;
  } catch (error) {
    return error;
  }
}

async function absorb(answer, batch) {
  const byId = new Map(batch.map((e) => [e.event_id, e]));
  const holders = (await store.get("holders")) || {};
  for (const result of answer.results) {
    const event = byId.get(result.event_id);
    if (!event) continue;
    const credential = result.credential || result.first?.credential;
    if (credential) holders[credential.serial] = {...holders[credential.serial], ...credential};
    // "duplicate" for one of this tablet's own queued events: the server stored it from an earlier send whose answer
    // never arrived (the network went while it was on its way). That first answer is the event's result.
    const first = result.result === "duplicate" && result.first?.result ? result.first : null;
    await store.putEvent({
      ...event,
      status: "synced",
      result: first ? first.result : result.result,
      resent: Boolean(first),
      reason: (first || result).reason || "",
      anomalies: result.anomalies || [],
      holder_name: credential?.holder_name || event.holder_name,
    });
  }
  for (const person of answer.roster.inside) holders[person.serial] = {...holders[person.serial], ...person};
  const revoked = new Map(((await store.get("revoked")) || []).map((r) => [r.serial, r]));
  for (const r of answer.revoked) revoked.set(r.serial, r);
  await store.put("holders", holders);
  await store.put("revoked", [...revoked.values()]);
  await store.put("since", answer.next_since);
  await store.put("keys", answer.keys);
  await store.put("scopeHashes", answer.scope_hashes);
  await store.put("roster", answer.roster);
  await store.put("lastSync", answer.received_at);
}

/** The place's credential holders (names, appointers, quota groups) and the state's quotas, kept for offline use. */
async function refreshHolders() {
  const list = await api.credentialHolders(state.session, state.device.polling_place);
  await store.put("holderList", list);
  // Revocations it names count too (the same facts as the revocation list, perhaps a little newer).
  const revoked = new Map(((await store.get("revoked")) || []).map((r) => [r.serial, r]));
  for (const c of list.credentials) {
    if (c.revoked && c.revoked_at && !revoked.has(c.serial)) {
      revoked.set(c.serial, {serial: c.serial, revoked_at: c.revoked_at});
    }
  }
  await store.put("revoked", [...revoked.values()]);
}

// What a tablet whose enrolment the county revoked (lost, stolen, retired) must stop holding: the device's secret and
// everything kept for offline work (holders' names, codes checked, roster, keys, revocations). The queue of events
// and incidents stays: it is the county's record of what was tapped here, and it holds no one else's data.
const FORGOTTEN_WHEN_REVOKED = [
  "device", "holderList", "holders", "tokens", "roster", "keys", "revoked", "scopeHashes", "place", "lastSync", "since",
];

async function sessionEnded(error) {
  stopScan("");
  state.session = null;
  state.check += 1;
  hideVerdict();
  await store.del("session");
  if (error.code === "device_revoked") {
    for (const key of FORGOTTEN_WHEN_REVOKED) await store.del(key);
    state.device = null;
    state.place = null;
    show("setup");
    setText("setup-error", `${error.message} Its data was removed; a commissioner can enrol it again.`);
    return;
  }
  await showSignin(`${error.message} Sign in again: events not yet sent stay on this tablet.`);
}

// --- incidents ------------------------------------------------------------------------------------------------------

// The server measures the distance to the zone from the location sent; with no fix from the tablet, the polling
// place's own point is sent with this uncertainty (about 330 ft), so the server answers "uncertain", never a guess.
const PLACE_ACCURACY_M = 100;
const DESCRIPTION_MAX = 3500; // the server's 4000, less room for the zone answer and the location note

function openIncident() {
  stopScan("");
  $("incident-form").reset();
  $("incident-description").maxLength = DESCRIPTION_MAX;
  state.location = null;
  setText("incident-location", "No location added: the polling place's own position is sent, marked as approximate.");
  setText("incident-error", "");
  show("incident");
}

function locate() {
  if (!("geolocation" in navigator)) return setText("incident-location", "This tablet cannot give its location.");
  setText("incident-location", "Finding this tablet's location…");
  navigator.geolocation.getCurrentPosition(
    (position) => {
      const {longitude, latitude, accuracy} = position.coords;
      state.location = {lon: longitude, lat: latitude, accuracy_m: Math.min(Math.round(accuracy * 10) / 10, 1000)};
      $("incident-location").dataset.located = "true";
      setText(
        "incident-location",
        `Location added: ${latitude.toFixed(5)}, ${longitude.toFixed(5)} (within ${Math.round(accuracy)} m).`,
      );
    },
    (error) => {
      state.location = null;
      setText(
        "incident-location",
        `No location (${error.message || "not allowed"}): the polling place's own position will be sent, marked ` +
          "as approximate.",
      );
    },
    {enableHighAccuracy: true, timeout: 20_000, maximumAge: 60_000},
  );
}

const ZONE_ANSWERS = {yes: "yes", no: "no", unsure: "not sure"};

async function saveIncident() {
  const description = $("incident-description").value.trim();
  if (!description) return setText("incident-error", "Describe what you see.");
  if (!state.session) return;
  const zone = document.querySelector('#incident-form input[name="zone"]:checked')?.value || "unsure";
  const photo = $("incident-photo").files[0] || null;
  const located = state.location;
  const notes = [
    `Inside the zone, by the poll worker: ${ZONE_ANSWERS[zone]}.`,
    located ? "" : "Location: the polling place's own position (the tablet's was not available).",
  ].filter(Boolean);
  const incident = {
    id: crypto.randomUUID(),
    status: "queued",
    recorded_by: state.session.username,
    created_at: new Date().toISOString(),
    zone,
    fields: {
      polling_place: state.device.polling_place,
      activity: $("incident-activity").value,
      lon: located ? located.lon : state.place.lon,
      lat: located ? located.lat : state.place.lat,
      accuracy_m: located ? located.accuracy_m : PLACE_ACCURACY_M,
      occurred_at: new Date().toISOString(),
      description: `${description}\n\n${notes.join("\n")}`,
    },
    photo, // a File: IndexedDB keeps the bytes
  };
  try {
    await store.putIncident(incident);
  } catch (error) {
    return setText("incident-error", `Not saved: ${error.message}`);
  }
  await showCheckin();
  if (navigator.onLine) syncNow();
}

/** Send the incident reports waiting on the tablet, oldest first. One the server refuses (4xx other than a sign-in or
 * rate problem) is kept, marked refused with the reason; a network failure stops the pass (sent next time). */
async function sendIncidents() {
  const waiting = (await store.allIncidents())
    .filter((i) => i.status === "queued")
    .sort((a, b) => a.created_at.localeCompare(b.created_at));
  for (const incident of waiting) {
    try {
      // The incident's own id as the server's report_id: sent again after a lost answer, it is stored once.
      const answer = await api.reportIncident(state.session, {report_id: incident.id, ...incident.fields}, incident.photo);
      await store.putIncident({
        ...incident,
        status: "sent",
        server_id: answer.id,
        zone_status: answer.zone_status,
        distance_ft: answer.distance_ft,
        photo: null,
      });
    } catch (error) {
      const refused = error instanceof api.ApiError && error.status < 500 && ![401, 408, 429].includes(error.status);
      if (!refused) throw error;
      await store.putIncident({...incident, status: "refused", reason: error.message});
    }
  }
}

const ZONE_LABELS = {inside: "inside the zone", outside: "outside the zone", uncertain: "too close to call"};

async function renderIncidents() {
  const incidents = (await store.allIncidents()).sort((a, b) => b.created_at.localeCompare(a.created_at));
  $("incidents").replaceChildren(
    ...incidents.slice(0, 20).map((i) => {
      const item = document.createElement("li");
      item.dataset.status = i.status;
      item.dataset.zoneStatus = i.zone_status || "";
      const what = i.fields.activity === "campaigning" ? "Campaigning" : "Loitering";
      const outcome =
        i.status === "queued"
          ? "waiting to send"
          : i.status === "refused"
            ? `refused: ${i.reason}`
            : `sent; the county's measure: ${ZONE_LABELS[i.zone_status] || "no zone rule"}` +
              (i.distance_ft != null ? ` (${Math.round(i.distance_ft)} ft)` : "");
      item.textContent = `${formatTime(i.created_at)} · ${what} · by ${i.recorded_by} · ${outcome}`;
      return item;
    }),
  );
}

// --- the paper fallback ---------------------------------------------------------------------------------------------

async function paper(document_) {
  if (!state.session) return;
  setText("paper-status", "Fetching…");
  try {
    const blob = await api.paper(state.session, state.device.polling_place, document_);
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = `${document_}-${state.device.polling_place}.pdf`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
    setText("paper-status", `The ${document_} PDF is downloaded: open it to print.`);
  } catch (error) {
    if (error instanceof api.ApiError && error.status === 401) return sessionEnded(error);
    setText("paper-status", error.message);
  }
}

// --- lists and freshness --------------------------------------------------------------------------------------------

const RESULT_LABELS = {
  accepted: "accepted",
  duplicate: "already recorded",
  refused: "refused",
  anomaly: "recorded, flagged for review",
};

async function renderLists() {
  await renderEvents();
  await renderIncidents();
  await renderRoster();
  await renderFreshness();
}

async function renderQueueCount() {
  const waiting = (await pending()).length;
  setText("queue-count", waiting ? `${waiting} waiting to send` : "Nothing waiting");
  $("queue-count").dataset.waiting = String(waiting);
}

async function renderEvents() {
  const events = (await store.allEvents()).reverse();
  const waiting = events.filter((e) => e.status === "queued").length;
  setText("queue-count", waiting ? `${waiting} waiting to send` : "Nothing waiting");
  $("queue-count").dataset.waiting = String(waiting);
  const list = $("events");
  list.replaceChildren(
    ...events.slice(0, 50).map((e) => {
      const item = document.createElement("li");
      item.dataset.eventId = e.event_id;
      item.dataset.status = e.status;
      item.dataset.result = e.result || "";
      item.dataset.recordedBy = e.recorded_by || "";
      item.dataset.resent = String(Boolean(e.resent));
      const what = e.kind === "check_in" ? "Check-in" : "Check-out";
      const outcome =
        e.status === "queued"
          ? "waiting to send"
          : `${RESULT_LABELS[e.result] || e.result}${e.reason ? `: ${e.reason.replaceAll("_", " ")}` : ""}` +
            (e.resent ? " (sent again: the first answer was lost on the way)" : "");
      item.textContent =
        `${formatTime(e.occurred_at)} · ${what} · ${e.holder_name || formatSerial(e.serial)} · ` +
        `by ${e.recorded_by} · ${outcome}`;
      return item;
    }),
  );
}

async function renderRoster() {
  const roster = await store.get("roster");
  const unsent = await pending();
  const holders = await holdersBySerial();
  const inside = roster?.inside || [];
  const list = $("roster");
  const rows = inside.map((p) => {
    const item = document.createElement("li");
    item.dataset.serial = p.serial;
    const kind = KIND_LABELS[p.kind] || p.kind;
    const party = p.appointed_by_name ? ` · ${p.appointed_by_name}` : "";
    item.textContent = `${p.holder_name} · ${kind}${party} · since ${formatTime(p.since)}`;
    if (p.credential_revoked) item.append(" · credential revoked since");
    return item;
  });
  for (const e of unsent) {
    const item = document.createElement("li");
    item.dataset.serial = e.serial;
    item.dataset.unsent = "true";
    const name = e.holder_name || holders.get(e.serial)?.holder_name || formatSerial(e.serial);
    const what = e.kind === "check_in" ? "in" : "out";
    item.textContent = `${name} · ${what} at ${formatTime(e.occurred_at)} · not yet sent`;
    rows.push(item);
  }
  list.replaceChildren(...rows);
  setText("roster-count", `(${inside.length})`);
  const last = await store.get("lastSync");
  setText("roster-note", last ? `As of the last sync, ${new Date(last).toLocaleTimeString()}.` : "Not synced yet.");
}

/** When the tablet last heard from the county, and whether its keys and revocation list are too old to trust
 * without a word of caution. */
async function renderFreshness() {
  const box = $("freshness");
  if (!box) return;
  const last = await store.get("lastSync");
  const list = await store.get("holderList");
  const age = last ? Date.now() - new Date(last).getTime() : Infinity;
  const stale = age >= STALE_MS;
  box.dataset.stale = String(stale);
  const minutes = Math.floor(age / 60_000);
  setText(
    "freshness-sync",
    last ? `Last sync ${formatTime(last)} (${minutes < 1 ? "just now" : `${minutes} min ago`}).` : "Never synced.",
  );
  setText(
    "freshness-keys",
    stale
      ? "Keys and revocation list are out of date: sync as soon as there is a signal (a credential revoked since " +
          "is not known here)."
      : `Keys and revocation list fresh as of ${formatTime(last)}.`,
  );
  setText(
    "freshness-names",
    list ? `Names of ${list.credentials.length} credential holder(s) kept on this tablet.` : "No list of names yet.",
  );
}

start().catch((error) => {
  console.error(error);
  app.dataset.state = "error";
});
