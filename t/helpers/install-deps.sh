#!/bin/sh
# Installs the Debian packages streamchat builds and tests with. Idempotent
# and quick when everything is there: it asks apt only for what is missing.
set -e
PKGS="build-essential pkg-config libfcgi-dev libwebsockets-dev libhiredis-dev libjson-c-dev
libcurl4-openssl-dev libuv1-dev redis-server redis-tools nginx supervisor bats bats-assert
bats-support curl jq python3 docker-compose procps iproute2 acl openssl clang libclang-rt-14-dev libssl-dev chromium
postgresql-15 libpq-dev"
# the browser tests' runner: any Node.js with npm will do (Debian's, or one
# already installed from elsewhere)
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || PKGS="$PKGS nodejs npm"
BROWSER_DIR=$(cd "$(dirname "$0")/../browser" && pwd)
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
NPM_DIR=$(cd "$(dirname "$0")/../npm" && pwd)
install_browser_runner() {
	if [ ! -d "$BROWSER_DIR/node_modules/playwright-core" ]; then
		echo "installing playwright-core (npm) into $BROWSER_DIR"
		npm ci --prefix "$BROWSER_DIR" --no-audit --no-fund --loglevel=error >/dev/null
	fi
	# the clients nobody here wrote (ai, openai), for t/83 and t/84
	[ -d "$NPM_DIR/node_modules/ai" ] && [ -d "$NPM_DIR/node_modules/openai" ] && return 0
	echo "installing ai and openai (npm) into $NPM_DIR"
	npm ci --prefix "$NPM_DIR" --no-audit --no-fund --loglevel=error >/dev/null
}
if [ -z "$missing" ]; then
	install_browser_runner
	exit 0
fi
echo "installing:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# services must not start on install: the stacks start their own
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
	$SUDO chmod +x /usr/sbin/policy-rc.d
	trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
install_browser_runner
