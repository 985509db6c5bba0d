/* The tablet app's service worker (rendered by polling.web.tablet.views.service_worker).
   Caches the app shell at install so that /tablet/ opens with no network after the first load. The API is never
   cached here: the app keeps its data (keys, revocations, roster, queued events) in IndexedDB. */
const VERSION = "{{ version }}";
const CACHE = "pollguard-tablet-" + VERSION;
const SHELL = {{ shell|safe }};

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE).then((cache) => cache.addAll(SHELL.map((url) => new Request(url, {cache: "reload"}))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(
        names.filter((n) => n.startsWith("pollguard-tablet-") && n !== CACHE).map((n) => caches.delete(n)),
      ))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || url.pathname.startsWith("/api/")) return;
  if (request.mode === "navigate") {
    // The page: fresh from the network when there is one (a new release), else the cached shell.
    event.respondWith(
      fetch(request).catch(() => caches.match(SHELL[0], {ignoreSearch: true}))
        .then((response) => response || caches.match(SHELL[0])),
    );
    return;
  }
  // Shell files: from the cache (they carry the release's version), else the network.
  event.respondWith(caches.match(request).then((hit) => hit || fetch(request)));
});
