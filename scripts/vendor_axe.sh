#!/usr/bin/env bash
# Vendor axe-core (the accessibility engine the browser tests run) into tests/e2e/vendor/axe-core/ from the npm
# registry's package tarball. Test-only: the service never serves it; the tests hand it to the page themselves.
# Run this only to change the pinned version (update VERSION and INTEGRITY from `npm view axe-core@X dist.integrity`).
#
# Needs npm and node (only to download and check the tarball), tar and sha256sum.
set -euo pipefail

VERSION="4.14.1"
INTEGRITY="sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ=="

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="$ROOT/tests/e2e/vendor/axe-core"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

cd "$WORK"
npm pack --silent "axe-core@$VERSION" >/dev/null
TARBALL="axe-core-$VERSION.tgz"
[ -f "$TARBALL" ] || { echo "npm pack did not produce $TARBALL" >&2; exit 1; }
actual="$(node -e 'const c = require("crypto"), fs = require("fs");
process.stdout.write("sha512-" + c.createHash("sha512").update(fs.readFileSync(process.argv[1])).digest("base64"));' "$TARBALL")"
if [ "$actual" != "$INTEGRITY" ]; then
    echo "integrity mismatch for $TARBALL: expected $INTEGRITY, got $actual" >&2
    exit 1
fi
tar xzf "$TARBALL"
packaged="$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' package/package.json | head -n1)"
[ "$packaged" = "$VERSION" ] || { echo "package.json says $packaged, expected $VERSION" >&2; exit 1; }

rm -rf "$DEST"
mkdir -p "$DEST"
cp package/axe.min.js package/LICENSE "$DEST/"
{
    echo "axe-core $VERSION"
    echo "source: npm package axe-core@$VERSION (npm pack), unmodified axe.min.js and LICENSE"
    echo "tarball: $TARBALL sha256 $(sha256sum "$TARBALL" | cut -d' ' -f1)"
    echo "tarball integrity: $INTEGRITY"
    echo "reproduce: scripts/vendor_axe.sh"
    echo
    echo "sha256 of each vendored file:"
    (cd "$DEST" && find . -type f ! -name VERSION | LC_ALL=C sort | sed 's|^\./||' | xargs sha256sum)
} >"$DEST/VERSION"
echo "Vendored axe-core $VERSION into ${DEST#"$ROOT"/}"
