// IndexedDB: what the tablet keeps across reloads, restarts and dead batteries.
//   kv:     device (id, secret, place, election, label), session (token, username, expires), keys, revoked, since,
//           scopeHashes, place (id, name, county FIPS), roster, lastSync
//           holderList (the place's credential holders and quotas), holders (names seen online), tokens (codes checked
//           here, by serial), lastActive
//   events: every check-in/out, written here BEFORE anything is sent (keyPath event_id)
//   incidents: incident reports (with their photo as a Blob), written here before anything is sent (keyPath id)

const DB_NAME = "pollguard-tablet";
const DB_VERSION = 2;
let opening = null;

function promisify(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

export function openDb() {
  if (!opening) {
    const request = indexedDB.open(DB_NAME, DB_VERSION);
    request.onupgradeneeded = () => {
      const db = request.result;
      if (!db.objectStoreNames.contains("kv")) db.createObjectStore("kv");
      if (!db.objectStoreNames.contains("events")) {
        const events = db.createObjectStore("events", {keyPath: "event_id"});
        events.createIndex("seq", "seq");
      }
      if (!db.objectStoreNames.contains("incidents")) db.createObjectStore("incidents", {keyPath: "id"});
    };
    opening = promisify(request).then((db) => {
      // A newer release in another tab needs the database upgraded: let it (this page reloads with the new app).
      db.onversionchange = () => db.close();
      return db;
    });
  }
  return opening;
}

async function tx(store, mode, work) {
  const db = await openDb();
  return new Promise((resolve, reject) => {
    // "strict": the write is flushed to disk before complete fires (a tap survives the battery dying).
    const transaction = db.transaction(store, mode, {durability: mode === "readwrite" ? "strict" : "default"});
    let result;
    Promise.resolve(work(transaction.objectStore(store))).then((r) => {
      result = r;
    }, reject);
    // Resolve only once the transaction is durable: an event is "stored" when this promise resolves.
    transaction.oncomplete = () => resolve(result);
    transaction.onerror = () => reject(transaction.error);
    transaction.onabort = () => reject(transaction.error);
  });
}

export const get = (key) => tx("kv", "readonly", (s) => promisify(s.get(key)));
export const put = (key, value) => tx("kv", "readwrite", (s) => promisify(s.put(value, key)));
export const del = (key) => tx("kv", "readwrite", (s) => promisify(s.delete(key)));

export const putEvent = (event) => tx("events", "readwrite", (s) => promisify(s.put(event)));
export const allEvents = () => tx("events", "readonly", (s) => promisify(s.index("seq").getAll()));

export const putIncident = (incident) => tx("incidents", "readwrite", (s) => promisify(s.put(incident)));
export const allIncidents = () => tx("incidents", "readonly", (s) => promisify(s.getAll()));
