#!/usr/bin/env bash
# Vendor Leaflet into polling/static/vendor/leaflet/ from the npm registry's package tarball.
#
# The map page serves these files itself: no CDN and no npm at run time. Run this only to change the pinned
# version (update VERSION and SHA512 below from `npm view leaflet@X dist.integrity`), then commit the result.
#
#   scripts/vendor_leaflet.sh            # re-vendor the pinned version
#
# Needs npm and node (only to download and check the tarball), tar and sha256sum.
set -euo pipefail

VERSION="1.9.4"
# npm's dist.integrity for leaflet@1.9.4: the tarball is checked against it before anything is copied.
INTEGRITY="sha512-nxS1ynzJOmOlHp+iL3FyWqK89GtNL8U8rvlMOsQdTTssxZwCXh8N2NB3GDQOL+YR3XnWyZAxwQixURb+FA74PA=="

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="$ROOT/polling/static/vendor/leaflet"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

cd "$WORK"
npm pack --silent "leaflet@$VERSION" >/dev/null
TARBALL="leaflet-$VERSION.tgz"
[ -f "$TARBALL" ] || { echo "npm pack did not produce $TARBALL" >&2; exit 1; }

# node comes with npm; openssl may not be installed.
actual="$(node -e 'const c = require("crypto"), fs = require("fs");
process.stdout.write("sha512-" + c.createHash("sha512").update(fs.readFileSync(process.argv[1])).digest("base64"));' "$TARBALL")"
if [ "$actual" != "$INTEGRITY" ]; then
    echo "integrity mismatch for $TARBALL:" >&2
    echo "  expected $INTEGRITY" >&2
    echo "  got      $actual" >&2
    exit 1
fi

tar xzf "$TARBALL"
packaged="$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' package/package.json | head -n1)"
[ "$packaged" = "$VERSION" ] || { echo "package.json says $packaged, expected $VERSION" >&2; exit 1; }

rm -rf "$DEST"
mkdir -p "$DEST/images"
cp package/dist/leaflet.js package/dist/leaflet.js.map package/dist/leaflet.css "$DEST/"
cp package/dist/images/*.png "$DEST/images/"
cp package/LICENSE "$DEST/LICENSE"

{
    echo "leaflet $VERSION"
    echo "source: npm package leaflet@$VERSION (npm pack), unmodified files from dist/ and LICENSE"
    echo "tarball: $TARBALL sha256 $(sha256sum "$TARBALL" | cut -d' ' -f1)"
    echo "tarball integrity: $INTEGRITY"
    echo "reproduce: scripts/vendor_leaflet.sh"
    echo
    echo "sha256 of each vendored file:"
    (cd "$DEST" && find . -type f ! -name VERSION | LC_ALL=C sort | sed 's|^\./||' | xargs sha256sum)
} >"$DEST/VERSION"

echo "Vendored leaflet $VERSION into ${DEST#"$ROOT"/}"
