#!/bin/sh
# Python 3.11 on debian:trixie, for every image that runs the project (pyproject.toml:
# requires-python >=3.11,<3.12, the version of the local stack). Trixie ships Python 3.13, so the
# interpreter comes from bookworm's packages: a bookworm source is added with a pin below trixie's
# (priority 100), so that only what trixie lacks (python3.11 and its own libraries) comes from it.
# Not python3.11-venv: through python3.11-distutils it wants bookworm's python3, which trixie's
# replaces; the venvs are made by uv instead. Extra packages to install may follow as arguments.
# Used as `RUN sh /tmp/python311.sh [PKG...]`.
set -eu
mirror=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p; s/^deb \(\[[^]]*\] \)\{0,1\}\(http[^ ]*\) .*/\2/p' \
  /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null | head -n 1)
keyring=""
for candidate in /usr/share/keyrings/debian-archive-keyring.pgp /usr/share/keyrings/debian-archive-keyring.gpg; do
  [ -f "$candidate" ] && keyring="[signed-by=$candidate] "
done
echo "deb ${keyring}${mirror:-http://deb.debian.org/debian} bookworm main" >/etc/apt/sources.list.d/bookworm.list
printf 'Package: *\nPin: release n=bookworm\nPin-Priority: 100\n' >/etc/apt/preferences.d/bookworm
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  python3.11 ca-certificates "$@" >/dev/null
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
python3.11 --version
