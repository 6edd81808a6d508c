# SPDX-License-Identifier: GPL-2.0-or-later
# Sourced by tests/run-all.sh and tests/demo.sh: install the Debian packages
# they need when some are missing (as root), and otherwise touch nothing.

# Building ztsegd, ztsegctl and the unit tests.
ZT_BUILD_PKGS=(build-essential pkg-config libnftnl-dev libmnl-dev libyaml-dev
	       libsystemd-dev libjansson-dev nettle-dev check libcurl4-openssl-dev)
# Testing: kernel tests, man page lint, fuzzing (libclang-rt-dev holds
# libFuzzer's runtime, which clang only recommends), memory checks.
ZT_TEST_PKGS=(nftables iproute2 mandoc clang libclang-rt-dev valgrind socat python3 python3-scapy hyperfine iperf3 jq time linux-perf
	      python3-prometheus-client python3-yaml curl systemd util-linux)
# The Debian package test (tests/pkg/deb.sh, root only): build, lint, chroot.
ZT_PKG_PKGS=(dpkg-dev debhelper lintian debootstrap)

zt_installed() {
	[[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]
}

# zt_install_deps PKG...: apt-get only for what is missing.
zt_install_deps() {
	local missing=() p
	if ! command -v dpkg-query >/dev/null; then
		echo "note: not a Debian system; assuming the dependencies are installed" >&2
		return 0
	fi
	for p in "$@"; do
		zt_installed "$p" || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	if [[ $(id -u) -ne 0 ]]; then
		echo "missing packages: ${missing[*]}; install them, or run this as root" >&2
		return 1
	fi
	echo "=== installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get update -q || return 1
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" || return 1
}
