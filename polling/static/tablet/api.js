// The staff API as the tablet uses it (same origin: no CORS). Every call either answers JSON or throws:
// ApiError (the server answered 4xx/5xx: {detail, code}) or OfflineError (no answer at all).

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.detail || `The server answered ${status}.`);
    this.status = status;
    this.code = body?.code || "";
    this.body = body;
  }
}

export class OfflineError extends Error {
  constructor() {
    super("No network: the tablet keeps working and sends later.");
  }
}

async function send(method, path, {body, form, session, accept = "application/json"} = {}) {
  const headers = {Accept: accept};
  if (body !== undefined) headers["Content-Type"] = "application/json";  // a form sets its own (with the boundary)
  if (session) {
    headers.Authorization = `Bearer ${session.token}`;
    headers["X-Device-Id"] = session.deviceId;
  }
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: form ?? (body === undefined ? undefined : JSON.stringify(body)),
      cache: "no-store",
      credentials: "omit",
    });
  } catch {
    throw new OfflineError();
  }
  return response;
}

async function call(method, path, options = {}) {
  const response = await send(method, path, options);
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export const enrol = (code) => call("POST", "/api/v1/auth/devices/enrol/", {body: {code}});

export const signIn = ({username, password, device}) =>
  call("POST", "/api/v1/auth/token/", {
    body: {username, password, device_id: device.device_id, device_secret: device.device_secret},
  });

export const signOut = (session) => call("DELETE", "/api/v1/auth/token/", {session});

export const pollingPlace = (id) => call("GET", `/api/v1/polling-places/${encodeURIComponent(id)}/`);

export const keys = () => call("GET", "/api/v1/credentials/keys/");

export const verify = (session, token, placeId) =>
  call("POST", "/api/v1/credentials/verify/", {session, body: {token, polling_place: placeId}});

export const sync = (session, body) => call("POST", "/api/v1/sync/", {session, body});

export const credentialHolders = (session, placeId) =>
  call("GET", `/api/v1/polling-places/${encodeURIComponent(placeId)}/credential-holders/`, {session});

/** The paper fallback (``roster`` or ``log``) as a PDF blob. */
export async function paper(session, placeId, document) {
  const path = `/api/v1/polling-places/${encodeURIComponent(placeId)}/paper/${document}.pdf`;
  const response = await send("GET", path, {session, accept: "application/pdf, */*"});
  if (!response.ok) {
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    throw new ApiError(response.status, data);
  }
  return response.blob();
}

/** An incident report: its fields and an optional photo (a Blob), as multipart/form-data. */
export function reportIncident(session, fields, photo) {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) {
    if (value !== null && value !== undefined && value !== "") form.append(name, String(value));
  }
  if (photo) form.append("photo", photo, photo.name || "photo");
  return call("POST", "/api/v1/incidents/", {session, form});
}
