// The poll worker's tablet app: set-up (enrolment), sign-in, credential check (offline), check-in/out queued in
// IndexedDB and synced. Vanilla ES modules; no inline script or style (the site's CSP).
import * as api from "./api.js";
import * as store from "./store.js";
import {DETAILS, KIND_LABELS, verifyOffline} from "./token.js";

const $ = (id) => document.getElementById(id);
const app = $("app");
const GENUINE_FAILURES = new Set(["malformed", "unknown_key", "bad_signature"]);
const MAX_BATCH = 500;

const state = {device: null, session: null, place: null, verdict: null, token: "", syncing: null};

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

  state.device = await store.get("device");
  state.session = await store.get("session");
  state.place = await store.get("place");
  if (!state.device) return show("setup");
  if (!state.session || new Date(state.session.expires_at) <= new Date()) return showSignin();
  await showCheckin();
  if (navigator.onLine) syncNow();
}

function showSignin(message = "") {
  const device = state.device;
  setText("device-info", `Tablet “${device.label}” of polling place ${device.polling_place}.`);
  setText("signin-error", message);
  show("signin");
}

async function showCheckin() {
  const place = state.place;
  setText(
    "place-info",
    `${place?.name || `Polling place ${state.device.polling_place}`} · signed in as ${state.session.username}`,
  );
  show("checkin");
  await renderEvents();
  await renderRoster();
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
      showSignin();
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
      await store.put("session", state.session);
      $("password").value = "";
      if (!state.place || state.place.id !== state.device.polling_place) {
        const feature = await api.pollingPlace(state.device.polling_place);
        state.place = {
          id: feature.id,
          name: feature.properties.name,
          county_fips: feature.properties.county.fips,
        };
        await store.put("place", state.place);
      }
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
  $("sign-out").addEventListener("click", signOut);
}

async function signOut() {
  const session = state.session;
  state.session = null;
  await store.del("session");
  if (session && navigator.onLine) api.signOut(session).catch(() => {});
  showSignin("Signed out. Events not yet sent stay on this tablet.");
}

// --- checking a credential ------------------------------------------------------------------------------------------

async function checkToken(raw) {
  const token = raw.replace(/\s+/gu, "").toUpperCase();
  let verdict = await verifyHere(token);
  if (verdict.reason === "unknown_key" && navigator.onLine) {
    // A key made since the last sync: fetch the public keys (no sign-in needed) and check again.
    try {
      await store.put("keys", await api.keys());
      verdict = await verifyHere(token);
    } catch (error) {
      console.warn("keys not refreshed", error);
    }
  }
  state.token = token;
  state.verdict = verdict;
  const holders = (await store.get("holders")) || {};
  renderVerdict(verdict, verdict.claims ? holders[verdict.claims.serial] : null, false);
  if (verdict.claims && navigator.onLine && state.session) {
    // Online: the server adds the holder's name (the token carries none) and the latest revocations.
    try {
      const answer = await api.verify(state.session, token, state.device.polling_place);
      if (state.token !== token) return;
      if (answer.credential) {
        holders[answer.credential.serial] = answer.credential;
        await store.put("holders", holders);
      }
      if (answer.valid !== verdict.valid || (answer.reason || null) !== verdict.reason) {
        // The server knows more (unknown credentials, revocations since the last sync): its word stands.
        state.verdict = {...verdict, valid: answer.valid, reason: answer.reason, detail: answer.detail};
      }
      renderVerdict(state.verdict, answer.credential || holders[verdict.claims.serial], true);
    } catch (error) {
      if (error instanceof api.ApiError && error.status === 401) await sessionEnded(error);
    }
  }
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

function renderVerdict(verdict, holder, confirmed) {
  const box = $("verdict");
  box.hidden = false;
  box.dataset.valid = String(verdict.valid);
  box.dataset.reason = verdict.reason || "";
  box.dataset.confirmed = String(confirmed);
  setText("verdict-heading", verdict.valid ? "Valid — admit" : `Refused: ${verdict.reason.replaceAll("_", " ")}`);
  setText("verdict-detail", verdict.detail || DETAILS[verdict.reason]);
  const claims = verdict.claims;
  setText("holder-name", holder?.holder_name || (claims ? "Name shown after the next sync" : "—"));
  setText("holder-kind", claims ? KIND_LABELS[claims.kind] : "—");
  setText(
    "holder-party",
    holder?.appointed_by_name ? `${holder.appointed_by_name} (${holder.appointed_by_kind})` : claims ? "—" : "—",
  );
  setText("holder-serial", claims ? formatSerial(claims.serial) : "—");
  setText(
    "holder-validity",
    claims ? `${claims.validFrom.toLocaleString()} – ${claims.validUntil.toLocaleString()}` : "—",
  );
  // A check-in needs a valid credential; a check-out only a genuine one (nobody is kept inside by an expiry).
  $("check-in").disabled = !verdict.valid;
  $("check-out").disabled = !claims || GENUINE_FAILURES.has(verdict.reason);
}

// --- recording and syncing ------------------------------------------------------------------------------------------

let seq = 0;

async function record(kind) {
  const verdict = state.verdict;
  if (!verdict?.claims || !state.session) return;
  const holders = (await store.get("holders")) || {};
  const event = {
    event_id: crypto.randomUUID(),
    kind,
    token: state.token,
    occurred_at: new Date().toISOString(),
    recorded_by: state.session.username,
    serial: verdict.claims.serial,
    credential_kind: verdict.claims.kind,
    holder_name: holders[verdict.claims.serial]?.holder_name || "",
    seq: Date.now() * 1000 + (seq++ % 1000),
    status: "queued",
    result: null,
  };
  // Stored first: once this resolves the event survives a reload, a killed browser or a dead battery.
  await store.putEvent(event);
  $("verdict").hidden = true;
  $("token").value = "";
  state.verdict = null;
  await renderEvents();
  await renderRoster();
  $("token").focus();
  if (navigator.onLine) syncNow();
}

async function pending() {
  return (await store.allEvents()).filter((e) => e.status === "queued");
}

function syncNow() {
  if (!state.session) return Promise.resolve();
  if (!state.syncing) {
    state.syncing = runSync().finally(() => {
      state.syncing = null;
    });
  }
  return state.syncing;
}

async function runSync() {
  setText("sync-status", "Sending…");
  $("sync-status").dataset.state = "busy";
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
    $("sync-status").dataset.state = "done";
    setText("sync-status", `Last sync ${new Date().toLocaleTimeString()}.`);
  } catch (error) {
    $("sync-status").dataset.state = "failed";
    if (error instanceof api.OfflineError) setText("sync-status", error.message);
    else if (error instanceof api.ApiError && error.status === 401) await sessionEnded(error);
    else setText("sync-status", `Sync failed: ${error.message}`);
  }
  await renderEvents();
  await renderRoster();
}

async function absorb(answer, batch) {
  const byId = new Map(batch.map((e) => [e.event_id, e]));
  const holders = (await store.get("holders")) || {};
  for (const result of answer.results) {
    const event = byId.get(result.event_id);
    if (!event) continue;
    const credential = result.credential || result.first?.credential;
    if (credential) holders[credential.serial] = credential;
    await store.putEvent({
      ...event,
      status: "synced",
      result: result.result,
      reason: result.reason || "",
      anomalies: result.anomalies || [],
      holder_name: credential?.holder_name || event.holder_name,
    });
  }
  for (const person of answer.roster.inside) holders[person.serial] = person;
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

async function sessionEnded(error) {
  state.session = null;
  await store.del("session");
  showSignin(`${error.message} Sign in again: events not yet sent stay on this tablet.`);
}

// --- lists ------------------------------------------------------------------------------------------------------------

const RESULT_LABELS = {
  accepted: "accepted",
  duplicate: "already recorded",
  refused: "refused",
  anomaly: "recorded, flagged for review",
};

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
      const what = e.kind === "check_in" ? "Check-in" : "Check-out";
      const outcome =
        e.status === "queued"
          ? "waiting to send"
          : `${RESULT_LABELS[e.result] || e.result}${e.reason ? `: ${e.reason.replaceAll("_", " ")}` : ""}`;
      item.textContent = `${formatTime(e.occurred_at)} · ${what} · ${e.holder_name || formatSerial(e.serial)} · ${outcome}`;
      return item;
    }),
  );
}

async function renderRoster() {
  const roster = await store.get("roster");
  const unsent = (await store.allEvents()).filter((e) => e.status === "queued");
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
    item.textContent = `${e.holder_name || formatSerial(e.serial)} · ${e.kind === "check_in" ? "in" : "out"} at ${formatTime(e.occurred_at)} · not yet sent`;
    rows.push(item);
  }
  list.replaceChildren(...rows);
  setText("roster-count", `(${inside.length})`);
  const last = await store.get("lastSync");
  setText("roster-note", last ? `As of the last sync, ${new Date(last).toLocaleTimeString()}.` : "Not synced yet.");
}

start().catch((error) => {
  console.error(error);
  app.dataset.state = "error";
});
