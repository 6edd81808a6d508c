#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The Debian package end to end (issue 23): `make deb`, lintian, and then,
# in a throwaway Debian 12 chroot made with debootstrap (never on this
# host), install with apt, every file where Debian puts it, `ztsegctl
# check` on the installed policy, remove (the table goes, the conffile and
# the state stay), purge (they go), a remove without CAP_NET_ADMIN that
# must not fail, and an upgrade between two builds whose versions differ
# that keeps a changed /etc/ztseg/ztseg.yaml.
#
# Root only (debootstrap, chroot, network namespaces); exits 77 otherwise
# or when a tool is missing. Everything that runs a maintainer script or
# ztsegd runs in a network namespace of its own with /proc mounted in a
# mount namespace of its own: the host's ruleset is never touched and no
# mount outlives the test. Only apt's downloads use the host's network,
# from the Debian mirror of /etc/apt/sources.list (ZTSEG_DEB_MIRROR).
#
# The debootstrapped chroot is cached as a tarball in
# ${ZTSEG_TEST_CACHE:-/var/cache/ztseg-test}; delete it to start afresh.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
t0=$SECONDS

if [[ $(id -u) -ne 0 ]]; then
	echo "deb.sh: needs root (debootstrap, chroot, namespaces): skipped" >&2
	exit 77
fi
for c in dpkg-buildpackage dh lintian debootstrap unshare setpriv timeout; do
	command -v "$c" >/dev/null || { echo "deb.sh: $c not installed: skipped" >&2; exit 77; }
done

tmp=$(mktemp -d /var/tmp/ztseg-deb.XXXXXX)
R=$tmp/root
cleanup() {
	# The chroot's /proc is mounted only inside the namespaces of each
	# step; should anything be mounted below $tmp all the same, it is
	# unmounted before anything is deleted.
	local m
	while read -r m; do
		umount -l "$m" 2>/dev/null || :
	done < <(awk -v t="$tmp" 'index($2, t) == 1 { print $2 }' /proc/self/mounts | sort -r)
	if awk -v t="$tmp" 'index($2, t) == 1 { f = 1 } END { exit !f }' /proc/self/mounts; then
		echo "deb.sh: $tmp still has mounts, left in place" >&2
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

passed=0 failed=0
log=$tmp/log
ok() { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() {
	failed=$((failed + 1))
	echo "not ok - $1: $2"
	[[ -s $log ]] && sed 's/^/#   /' "$log" | tail -20
	return 0
}
finish() {
	echo "$passed passed, $failed failed ($((SECONDS - t0)) s)"
	((failed == 0))
	exit
}
: >"$log"

# What this host looks like before: its ruleset and its packages.
host_rules() { command -v nft >/dev/null && nft list ruleset 2>/dev/null | sha256sum || echo none; }
host_rules_before=$(host_rules)
host_pkg() { dpkg-query -W -f='${Status}' ztseg 2>/dev/null || :; }
host_pkg_before=$(host_pkg)

# --- build v1 (make deb, unit tests in the build) ---------------------------------

srcsums() { (cd "$root" && find debian -type f -exec sha256sum {} + | LC_ALL=C sort -k2); }
srcsums >"$tmp/debian.before"
if timeout 600 make -C "$root" --no-print-directory deb DEBDIR="$tmp/v1" >"$tmp/build1.log" 2>&1; then
	ok "make deb builds the package ($((SECONDS - t0)) s)"
else
	tail -30 "$tmp/build1.log" >"$log"
	not_ok "make deb builds the package" "exit $?"
	finish
fi
deb1=$(ls "$tmp"/v1/ztseg_*.deb)
v1=$(dpkg-deb -f "$deb1" Version)
arch=$(dpkg-deb -f "$deb1" Architecture)
nunit=$(grep -c '^== debian/build/tests/test-' "$tmp/build1.log" || :)
((nunit > 0)) && ! grep -qE '^== (tests/|.*/tests/zt-)' "$tmp/build1.log" &&
	[[ $(grep -c '^100%: Checks:' "$tmp/build1.log" || :) == "$nunit" ]] &&
	ok "the build ran the unit tests ($nunit suites, all 100%), not the CLI or kernel tests" ||
	not_ok "the build ran the unit tests only" "see $tmp/build1.log"
srcsums | diff -u "$tmp/debian.before" - >"$log" &&
	ok "make deb builds in a copy: the source tree's debian/ is as it was" ||
	not_ok "make deb leaves the source tree's debian/ as it was" "diff below"
: >"$log"

# --- lintian ----------------------------------------------------------------------

lintian --allow-root -I -E --pedantic --tag-display-limit 0 "$tmp"/v1/ztseg_*.changes \
	>"$tmp/lintian" 2>&1 || :
errors=$(grep -c '^E: ' "$tmp/lintian" || :)
warnings=$(grep -c '^W: ' "$tmp/lintian" || :)
sed 's/^/# lintian: /' "$tmp/lintian"
if ((errors == 0)) && grep -qv '^[EWIPNXC]: ' "$tmp/lintian" 2>/dev/null; then
	# Something that is not a tag line: lintian itself failed.
	grep -v '^[EWIPNXC]: ' "$tmp/lintian" >"$log"
	not_ok "lintian runs" "output above"
elif ((errors == 0)); then
	ok "lintian: no errors, $warnings warnings (listed above)"
else
	not_ok "lintian: no errors" "$errors errors (listed above)"
fi

# --- build v2: the same tree, one changelog entry later, a changed conffile --------

mkdir -p "$tmp/v2"
cp -a "$tmp/v1/src" "$tmp/v2/src"
v2=$v1+upgrade1
{
	printf 'ztseg (%s) unstable; urgency=medium\n\n  * Test build for the upgrade test of tests/pkg/deb.sh.\n\n' "$v2"
	printf ' -- %s  %s\n\n' "$(dpkg-parsechangelog -l "$tmp/v1/src/debian/changelog" -S Maintainer)" "$(date -R)"
	cat "$tmp/v1/src/debian/changelog"
} >"$tmp/changelog" && mv "$tmp/changelog" "$tmp/v2/src/debian/changelog"
echo "# shipped by $v2" >>"$tmp/v2/src/etc/ztseg/ztseg.yaml"
if (cd "$tmp/v2/src" && DEB_BUILD_OPTIONS=nocheck timeout 600 dpkg-buildpackage -us -uc -b) \
	>"$tmp/build2.log" 2>&1; then
	ok "a second build, $v2, with DEB_BUILD_OPTIONS=nocheck ($((SECONDS - t0)) s)"
else
	tail -30 "$tmp/build2.log" >"$log"
	not_ok "a second build, $v2" "exit $?"
	finish
fi
deb2=$(ls "$tmp"/v2/ztseg_*.deb)
! grep -q '^100%: Checks:' "$tmp/build2.log" &&
	ok "nocheck: the second build ran no tests" ||
	not_ok "nocheck: the second build ran no tests" "it did"

# --- the chroot -----------------------------------------------------------------------

# The mirror: the first Debian archive (not -security) in apt's sources.
mirror=${ZTSEG_DEB_MIRROR:-$({ cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
	/etc/apt/sources.list.d/*.sources 2>/dev/null || :; } |
	sed -n -e 's/^deb \(\[[^]]*\] \)\{0,1\}\([^ ]*\).*/\2/p' -e 's/^URIs: *\([^ ]*\).*/\1/p' |
	grep -v -- '-security' | grep -m1 '/debian/\{0,1\}$' || :)}
mirror=${mirror:-http://deb.debian.org/debian}
cache=${ZTSEG_TEST_CACHE:-/var/cache/ztseg-test}
tarball=$cache/bookworm-minbase-$arch.tar.gz
if [[ ! -s $tarball ]]; then
	mkdir -p "$cache"
	echo "# debootstrap --variant=minbase bookworm from $mirror (cached in $tarball)"
	if timeout 900 debootstrap --variant=minbase --arch="$arch" bookworm "$tmp/boot" "$mirror" \
		>"$tmp/debootstrap.log" 2>&1 &&
	   chroot "$tmp/boot" apt-get clean &&
	   tar -C "$tmp/boot" -czf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"; then
		rm -rf "${tmp:?}/boot"
	else
		tail -20 "$tmp/debootstrap.log" >"$log"
		rm -f "$tarball.tmp"
		not_ok "debootstrap bookworm minbase from $mirror" "failed"
		finish
	fi
fi
mkdir "$R"
tar -C "$R" -xzf "$tarball"
cp -L /etc/resolv.conf "$R/etc/resolv.conf" 2>/dev/null || :
echo "deb $mirror bookworm main" >"$R/etc/apt/sources.list"
mkdir -p "$R/tmp/pkg"
cp "$deb1" "$deb2" "$R/tmp/pkg/"
d1=/tmp/pkg/${deb1##*/} d2=/tmp/pkg/${deb2##*/}
ok "bookworm minbase chroot from $mirror ($((SECONDS - t0)) s)"

chenv=(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8
	DEBIAN_FRONTEND=noninteractive)
# inroot COMMAND...: in the chroot, with the host's network (apt's
# downloads only: nothing here runs a maintainer script).
inroot() { chroot "$R" "${chenv[@]}" "$@"; }
# isolated COMMAND...: in the chroot, in a network namespace of its own and
# a mount namespace in which /proc is mounted (systemd-tmpfiles needs it).
isolated() {
	timeout 300 unshare --net --mount --propagation private \
		bash -c 'mount -t proc proc "$1/proc" && exec chroot "$@"' x \
		"$R" "${chenv[@]}" "$@"
}
# script TEXT: bash in the isolated chroot; its "R KEY VALUE" lines are
# read back with r KEY.
script() { isolated bash -c "$1" >"$tmp/out" 2>&1 || echo "R exit $?" >>"$tmp/out"; }
r() { sed -n "s/^R $1 //p" "$tmp/out" | tail -n1; }
apt_opts=(-y -q -o Dpkg::Options::=--force-confold -o Dpkg::Use-Pty=0)

download() { # DEB: fetch what installing it needs, with the host's network
	inroot apt-get update -q >"$log" 2>&1 &&
		timeout 300 chroot "$R" "${chenv[@]}" apt-get install --download-only "${apt_opts[@]}" "$1" \
			>>"$log" 2>&1
}
status() { inroot dpkg-query -W -f='${Status} ${Version}' ztseg 2>/dev/null || echo "not-known"; }
exists() { [[ -e $R$1 || -L $R$1 ]]; }
# Owners by number: this host's names for them are not the chroot's.
mode_owner() { stat -c '%a %u:%g' "$R$1" 2>/dev/null || echo missing; }

if download "$d1"; then
	ok "apt-get fetches the dependencies from the mirror"
else
	not_ok "apt-get fetches the dependencies from the mirror" "exit $?"
	finish
fi

# --- install ------------------------------------------------------------------------

script "apt-get install ${apt_opts[*]} $d1; echo \"R rc \$?\""
cp "$tmp/out" "$tmp/install.log"
if [[ $(r rc) == 0 && $(status) == "install ok installed $v1" ]]; then
	ok "apt-get install ./${deb1##*/} in the chroot, without systemd running: installed $v1"
else
	tail -20 "$tmp/out" >"$log"
	not_ok "apt-get install in the chroot" "rc $(r rc), status $(status)"
	finish
fi
grep -E '^(W|E): ' "$tmp/install.log" >"$log" || :
[[ ! -s $log ]] && ok "apt printed no warnings or errors" || not_ok "apt printed no warnings or errors" "below"
: >"$log"

# Every file where Debian policy puts it (bookworm: units in /lib), with
# its mode, and nothing else: the package's file list against this one.
expected() {
	local p
	echo "0755 /usr/sbin/ztsegd"
	echo "0755 /usr/bin/ztsegctl"
	echo "0644 /lib/systemd/system/ztsegd.service"
	echo "0644 /lib/systemd/system/ztseg-feeds.service"
	echo "0644 /lib/systemd/system/ztseg-feeds.timer"
	echo "0644 /lib/systemd/system/ztseg-metrics.socket"
	echo "0644 /lib/systemd/system/ztseg-metrics@.service"
	echo "0644 /usr/lib/sysusers.d/ztseg.conf"
	echo "0644 /usr/lib/tmpfiles.d/ztseg.conf"
	echo "0644 /usr/lib/modules-load.d/ztseg.conf"
	echo "0644 /usr/share/bash-completion/completions/ztsegctl"
	for p in "$root"/man/*.[1-9]; do
		echo "0644 /usr/share/man/man${p##*.}/${p##*/}.gz"
	done
	for p in "$root"/policy/*.yaml; do
		echo "0644 /usr/share/doc/ztseg/examples/${p##*/}"
	done
	for p in "$root"/policy/segments.d/*.yaml; do
		echo "0644 /usr/share/doc/ztseg/examples/segments.d/${p##*/}"
	done
	for p in copyright changelog.gz README.md.gz INSTALL.md.gz; do
		echo "0644 /usr/share/doc/ztseg/$p"
	done
	echo "0644 /usr/share/lintian/overrides/ztseg"
	echo "0644 /etc/ztseg/ztseg.yaml"
}
expected | LC_ALL=C sort -k2 >"$tmp/want"
inroot dpkg-query -L ztseg | while read -r f; do
	if [[ -f $R$f && ! -L $R$f ]]; then
		printf '%s %s\n' "$(stat -c %a "$R$f" | sed 's/^/0/; s/^0\(....\)$/\1/')" "$f"
	fi
done | LC_ALL=C sort -k2 >"$tmp/have"
diff -u "$tmp/want" "$tmp/have" >"$log" &&
	ok "the package's $(wc -l <"$tmp/want") files are where Debian puts them, with their modes" ||
	not_ok "the package's files are where Debian puts them" "diff (- wanted, + installed)"
: >"$log"
while read -r m f; do
	[[ $(stat -c '%u:%g' "$R$f") == 0:0 ]] || echo "$f: $(stat -c '%u:%g' "$R$f")"
done <"$tmp/want" >"$log"
[[ ! -s $log ]] && ok "all of them root's" || not_ok "all of them root's" "below"
: >"$log"
cmp -s "$R/usr/lib/sysusers.d/ztseg.conf" "$root/systemd/ztseg.sysusers" &&
	cmp -s "$R/usr/lib/modules-load.d/ztseg.conf" "$root/systemd/ztseg-modules.conf" &&
	cmp -s "$R/usr/share/doc/ztseg/examples/ztseg.yaml" "$root/policy/ztseg.yaml" &&
	ok "sysusers, modules-load and the example are the shipped files" ||
	not_ok "sysusers, modules-load and the example are the shipped files" "one differs"
grep -qx 'ExecStart=/usr/sbin/ztsegd --config /etc/ztseg' "$R/lib/systemd/system/ztsegd.service" &&
	grep -qx 'ExecReload=/usr/bin/ztsegctl reload' "$R/lib/systemd/system/ztsegd.service" &&
	ok "the unit runs /usr/sbin/ztsegd --config /etc/ztseg" ||
	not_ok "the unit runs /usr/sbin/ztsegd --config /etc/ztseg" "$(grep ^Exec "$R/lib/systemd/system/ztsegd.service")"
[[ $(inroot dpkg-query -W -f='${Conffiles}' ztseg | awk 'NF { print $1 }') == /etc/ztseg/ztseg.yaml ]] &&
	ok "/etc/ztseg/ztseg.yaml is the one conffile" ||
	not_ok "/etc/ztseg/ztseg.yaml is the one conffile" "$(inroot dpkg-query -W -f='${Conffiles}' ztseg)"
cmp -s "$R/etc/ztseg/ztseg.yaml" "$root/etc/ztseg/ztseg.yaml" &&
	ok "it is the first policy of etc/ztseg/ztseg.yaml" ||
	not_ok "it is the first policy of etc/ztseg/ztseg.yaml" "differs"
[[ $(mode_owner /etc/ztseg) == "755 0:0" && $(mode_owner /etc/ztseg/segments.d) == "755 0:0" ]] &&
	ok "/etc/ztseg and segments.d/: 0755 root" ||
	not_ok "/etc/ztseg and segments.d/: 0755 root" "$(mode_owner /etc/ztseg), $(mode_owner /etc/ztseg/segments.d)"
deps=$(inroot dpkg-query -W -f='${Depends}' ztseg)
[[ $deps == *"systemd | systemd-standalone-sysusers"* && $deps == *libnftnl11* && $deps == *libyaml-0-2* ]] &&
	ok "Depends: $deps" || not_ok "Depends has systemd (sysusers) and the libraries" "$deps"

# The user and groups (postinst: systemd-sysusers), the state directory
# (systemd-tmpfiles), the service enabled (deb-systemd-helper).
pw=$(grep '^ztseg:' "$R/etc/passwd" || :)
IFS=: read -r _ _ uid gid _ home shell <<<"$pw"
[[ -n $pw ]] && ((uid > 0 && uid < 1000)) && [[ $home == /var/lib/ztseg && $shell == /usr/sbin/nologin ]] &&
	[[ $(awk -F: '$1 == "ztseg" { print $3 }' "$R/etc/group") == "$gid" ]] &&
	grep -q '^ztseg-admin:' "$R/etc/group" &&
	ok "system user ztseg ($uid, group ztseg, nologin) and group ztseg-admin" ||
	not_ok "system user ztseg and groups ztseg, ztseg-admin" "passwd: '$pw'"
[[ $(mode_owner /var/lib/ztseg) == "700 $uid:$gid" ]] &&
	ok "/var/lib/ztseg: 0700 ztseg:ztseg" || not_ok "/var/lib/ztseg: 0700 ztseg:ztseg" "$(mode_owner /var/lib/ztseg)"
wants=/etc/systemd/system/sysinit.target.wants/ztsegd.service
[[ $(readlink "$R$wants") == /lib/systemd/system/ztsegd.service ]] &&
	ok "ztsegd.service enabled ($wants)" || not_ok "ztsegd.service enabled" "$(ls -l "$R$wants" 2>&1)"
[[ ! -e $R/etc/systemd/system/sockets.target.wants/ztseg-metrics.socket ]] &&
	ok "ztseg-metrics.socket installed but not enabled" ||
	not_ok "ztseg-metrics.socket not enabled" "$(ls -l "$R/etc/systemd/system/sockets.target.wants" 2>&1)"
[[ ! -e $R/etc/systemd/system/timers.target.wants/ztseg-feeds.timer ]] &&
	ok "ztseg-feeds.timer installed but not enabled" ||
	not_ok "ztseg-feeds.timer not enabled" "$(ls -l "$R/etc/systemd/system/timers.target.wants" 2>&1)"
grep -i 'fail' "$tmp/install.log" >"$log" || :
[[ ! -s $log ]] && ok "without systemd running, no maintainer script step failed" ||
	not_ok "without systemd running, no maintainer script step failed" "below"
: >"$log"

# The installed programs on the installed policy.
script '
	echo "R check $(ztsegctl check --config /etc/ztseg 2>&1)"
	echo "R checkdef $(ztsegctl check 2>&1)"
	echo "R dcheck $(ztsegd --check 2>&1)"
	echo "R version $(ztsegctl --version) / $(ztsegd --version)"
	echo "R comp $(bash -c "source /usr/share/bash-completion/completions/ztsegctl && complete -p ztsegctl" 2>&1)"
	echo "R verify $(systemd-analyze verify --man=no /lib/systemd/system/ztsegd.service 2>&1; echo rc=$?)"
	echo "R man $(for m in /usr/share/man/man*/zt*; do gzip -t "$m" || echo "bad $m"; done 2>&1)"
	# Harmless: the first policy applied in this namespace allows everything.
	ztsegd --oneshot >/dev/null 2>&1; echo "R oneshot $?"
	echo "R explain $(ztsegctl explain 192.0.2.1 203.0.113.5 tcp/22 2>&1 | head -n1)"'
[[ $(r check) == "policy OK: 0 segments,"* ]] &&
	ok "ztsegctl check --config /etc/ztseg: $(r check)" ||
	{ cp "$tmp/out" "$log"; not_ok "ztsegctl check --config /etc/ztseg" "$(r check)"; }
[[ $(r checkdef) == "policy OK: 0 segments,"* && $(r dcheck) == *"policy valid"* ]] &&
	ok "ztsegctl check and ztsegd --check find it by default" ||
	not_ok "ztsegctl check and ztsegd --check by default" "$(r checkdef) / $(r dcheck)"
ver=$(r version)
[[ $ver == "ztsegctl ${v1%%[-+~]*} / ztsegd ${v1%%[-+~]*}" ]] &&
	ok "--version agrees with the package: $ver" || not_ok "--version agrees with the package $v1" "$ver"
[[ $(r comp) == "complete -F _ztsegctl ztsegctl" ]] &&
	ok "bash completion loads" || not_ok "bash completion loads" "$(r comp)"
[[ $(r verify) == "rc=0" ]] &&
	ok "systemd-analyze verify of the installed unit: clean" || not_ok "systemd-analyze verify" "$(r verify)"
[[ -z $(r man) ]] && ok "man pages are valid gzip" || not_ok "man pages are valid gzip" "$(r man)"
[[ $(r oneshot) == 0 && $(r explain) == allow ]] &&
	ok "the installed policy applies (ztsegd --oneshot, own namespace) and lets traffic pass" ||
	not_ok "the installed policy applies and allows" "oneshot $(r oneshot), explain $(r explain)"

# --- remove: the table goes, the conffile and the state stay --------------------------

cp "$R/etc/ztseg/ztseg.yaml" "$tmp/conffile.v1"
script '
	ztsegd --oneshot >/dev/null 2>&1
	echo "R before $(nft list tables 2>&1 | tr "\n" " ")"
	apt-get remove -y -q ztseg >/tmp/remove.log 2>&1; echo "R rc $?"
	echo "R removed $(grep "^ztsegd:" /tmp/remove.log)"
	echo "R after $(nft list tables 2>&1 | tr "\n" " ")"'
[[ $(r rc) == 0 && $(status) == "deinstall ok config-files $v1" ]] &&
	ok "apt-get remove: config-files left" ||
	{ cp "$tmp/out" "$log"; not_ok "apt-get remove" "rc $(r rc), status $(status)"; }
[[ $(r before) == "table inet ztseg " && -z $(r after) && $(r removed) == "ztsegd: removed table inet ztseg" ]] &&
	ok "prerm took the table away: '$(r removed)'" ||
	not_ok "prerm took the table away" "before '$(r before)', after '$(r after)', '$(r removed)'"
gone=()
for f in /usr/sbin/ztsegd /usr/bin/ztsegctl /lib/systemd/system/ztsegd.service \
	/usr/lib/sysusers.d/ztseg.conf /usr/lib/tmpfiles.d/ztseg.conf /usr/lib/modules-load.d/ztseg.conf \
	/usr/share/bash-completion/completions/ztsegctl /usr/share/doc/ztseg /usr/share/man/man8/ztsegd.8.gz; do
	if exists "$f"; then gone+=("$f"); fi
done
((${#gone[@]} == 0)) && ok "remove: programs, unit, man pages, docs gone" || not_ok "remove: files gone" "still there: ${gone[*]}"
cmp -s "$tmp/conffile.v1" "$R/etc/ztseg/ztseg.yaml" &&
	ok "remove: the conffile stays" || not_ok "remove: the conffile stays" "$(ls -l "$R/etc/ztseg" 2>&1)"
[[ -s $R/var/lib/ztseg/applied-policy ]] &&
	ok "remove: the state in /var/lib/ztseg stays ($(ls "$R/var/lib/ztseg" | tr '\n' ' '))" ||
	not_ok "remove: the state stays" "$(ls -la "$R/var/lib/ztseg" 2>&1)"

# --- purge: the conffile, the state and the enablement go; the user stays -------------

script 'apt-get purge -y -q ztseg >/tmp/purge.log 2>&1; echo "R rc $?"'
st=$(status)
[[ $(r rc) == 0 && ( $st == not-known || $st == "unknown ok not-installed"* ) ]] &&
	ok "apt-get purge" || { cp "$tmp/out" "$log"; not_ok "apt-get purge" "rc $(r rc), status $(status)"; }
left=()
for f in /etc/ztseg /var/lib/ztseg "$wants" /var/lib/systemd/deb-systemd-helper-enabled/ztsegd.service.dsh-also; do
	if exists "$f"; then left+=("$f"); fi
done
((${#left[@]} == 0)) && ok "purge: /etc/ztseg, /var/lib/ztseg and the enablement gone" ||
	not_ok "purge: everything gone" "still there: ${left[*]}"
grep -q '^ztseg:' "$R/etc/passwd" && grep -q '^ztseg-admin:' "$R/etc/group" &&
	ok "purge: the user ztseg and the groups stay (debian/ztseg.postrm says why)" ||
	not_ok "purge: the user and the groups stay" "gone"

# --- remove without a table, and without CAP_NET_ADMIN: the removal goes on ------------

script "apt-get install ${apt_opts[*]} $d1 >/tmp/reinstall.log 2>&1; echo \"R inst \$?\"
	apt-get remove -y -q ztseg >/tmp/remove.log 2>&1; echo \"R notable \$?\"
	echo \"R notablemsg \$(grep '^ztsegd:' /tmp/remove.log)\"
	apt-get install ${apt_opts[*]} $d1 >/tmp/reinstall.log 2>&1; echo \"R inst2 \$?\"
	ztsegd --oneshot >/dev/null 2>&1
	setpriv --bounding-set=-net_admin --inh-caps=-net_admin \
		apt-get remove -y -q ztseg >/tmp/remove.log 2>&1; echo \"R rc \$?\"
	echo \"R msg \$(grep -c 'nft delete table inet ztseg' /tmp/remove.log)\"
	echo \"R after \$(nft list tables 2>&1 | tr '\n' ' ')\"
	apt-get purge -y -q ztseg >/dev/null 2>&1; echo \"R purge \$?\""
[[ $(r inst) == 0 && $(r inst2) == 0 ]] && ok "reinstall after purge (the user exists already), and after remove" ||
	not_ok "reinstall after purge, and after remove" "rc $(r inst), $(r inst2)"
[[ $(r notable) == 0 && $(r notablemsg) == "ztsegd: no table inet ztseg to remove" ]] &&
	ok "remove with no table: '$(r notablemsg)'" ||
	not_ok "remove with no table" "rc $(r notable): '$(r notablemsg)'"
[[ $(r rc) == 0 && $(r msg) == 1 && $(r after) == "table inet ztseg " ]] &&
	ok "remove without CAP_NET_ADMIN succeeds, says the table stays and how to delete it" ||
	{ cp "$tmp/out" "$log"; not_ok "remove without CAP_NET_ADMIN" "rc $(r rc), msg $(r msg), after '$(r after)'"; }
[[ $(r purge) == 0 ]] && ok "and purge after it" || not_ok "purge after it" "rc $(r purge)"

# --- upgrade v1 -> v2: a changed conffile stays, the table stays -----------------------

if download "$d2"; then :; else not_ok "apt-get fetches v2's dependencies" "exit $?"; fi
script "apt-get install ${apt_opts[*]} $d1 >/tmp/v1.log 2>&1; echo \"R inst \$?\"
	echo '# changed by the administrator' >>/etc/ztseg/ztseg.yaml
	cp /etc/ztseg/ztseg.yaml /tmp/mine.yaml
	ztsegd --oneshot >/dev/null 2>&1
	apt-get install ${apt_opts[*]} $d2 >/tmp/upgrade.log 2>&1; echo \"R rc \$?\"
	cmp -s /tmp/mine.yaml /etc/ztseg/ztseg.yaml; echo \"R same \$?\"
	echo \"R dist \$(tail -n1 /etc/ztseg/ztseg.yaml.dpkg-dist 2>&1)\"
	echo \"R table \$(nft list tables 2>&1 | tr '\n' ' ')\"
	echo \"R check \$(ztsegctl check 2>&1)\"
	echo \"R wants \$(readlink $wants)\"
	apt-get purge -y -q ztseg >/dev/null 2>&1; echo \"R purge \$?\""
cp "$tmp/out" "$tmp/upgrade.out"
[[ $(r inst) == 0 && $(r rc) == 0 ]] && grep -q "Unpacking ztseg ($v2) over ($v1)" "$R/tmp/upgrade.log" &&
	ok "apt-get install --force-confold upgrades $v1 to $v2 non-interactively" ||
	{ tail -20 "$R/tmp/upgrade.log" >"$log"; not_ok "upgrade $v1 to $v2" "rc $(r inst)/$(r rc)"; }
[[ $(r same) == 0 ]] && ok "upgrade: the changed /etc/ztseg/ztseg.yaml is untouched" ||
	not_ok "upgrade: the changed ztseg.yaml is untouched" "it changed"
[[ $(r dist) == "# shipped by $v2" ]] &&
	ok "upgrade: the new version's file is beside it, as ztseg.yaml.dpkg-dist" ||
	not_ok "upgrade: ztseg.yaml.dpkg-dist" "$(r dist)"
[[ $(r table) == "table inet ztseg " ]] &&
	ok "upgrade: the table stays (prerm upgrade leaves it to the restarted daemon to adopt)" ||
	not_ok "upgrade: the table stays" "'$(r table)'"
[[ $(r check) == "policy OK: 0 segments,"* && -n $(r wants) ]] &&
	ok "upgrade: the policy still checks and the service is still enabled" ||
	not_ok "upgrade: policy checks and service enabled" "'$(r check)', wants '$(r wants)'"
[[ $(r purge) == 0 ]] && ! exists /etc/ztseg && ! exists /var/lib/ztseg &&
	ok "purge after the upgrade removes /etc/ztseg (.dpkg-dist included) and /var/lib/ztseg" ||
	not_ok "purge after the upgrade" "rc $(r purge); $(ls -a "$R/etc/ztseg" 2>&1 | tr '\n' ' ')"

# --- a build in the chroot with nothing but the Build-Depends ----------------------------

# The checkout as make deb copies it; apt-get build-dep reads debian/control.
mkdir -p "$R/src/ztseg"
tar -C "$root" -cf - --anchored --exclude=./.git --exclude=./build --exclude='./build-*' . |
	tar -C "$R/src/ztseg" -xf -
if inroot sh -c 'cd /src/ztseg && apt-get install -d -y -q --no-install-recommends build-essential &&
	apt-get build-dep -d -y -q --no-install-recommends ./' >"$log" 2>&1; then
	: >"$log"
	script 'cd /src/ztseg
		apt-get install -y -q --no-install-recommends -o Dpkg::Use-Pty=0 build-essential >/tmp/bd.log 2>&1 &&
		apt-get build-dep -y -q --no-install-recommends -o Dpkg::Use-Pty=0 ./ >>/tmp/bd.log 2>&1
		echo "R bd $?"
		dpkg-checkbuilddeps >>/tmp/bd.log 2>&1; echo "R cbd $?"
		dpkg-buildpackage -us -uc -b >/tmp/build.log 2>&1; echo "R build $?"
		echo "R units $(grep -c "^100%: Checks:" /tmp/build.log)"
		echo "R debs $(cd /src && ls ztseg_*.deb)"'
	if [[ $(r bd) == 0 && $(r cbd) == 0 && $(r build) == 0 && $(r units) == "$nunit" ]]; then
		ok "dpkg-buildpackage -us -uc -b in a checkout in the chroot, with build-essential and the Build-Depends only: $(r debs), $(r units) unit suites passed"
	else
		tail -20 "$R/tmp/build.log" "$R/tmp/bd.log" >"$log" 2>/dev/null || :
		not_ok "dpkg-buildpackage with the Build-Depends only" "build-dep $(r bd), checkbuilddeps $(r cbd), build $(r build), units $(r units)"
	fi
	dpkg-deb -c "$deb1" | awk '{ print $1, $6 }' | LC_ALL=C sort -k2 >"$tmp/c1"
	dpkg-deb -c "$R/src/$(r debs)" 2>/dev/null | awk '{ print $1, $6 }' | LC_ALL=C sort -k2 >"$tmp/c2"
	diff -u "$tmp/c1" "$tmp/c2" >"$log" &&
		ok "it holds the same files as the package built here" ||
		not_ok "it holds the same files as the package built here" "diff below"
else
	not_ok "apt-get build-dep fetches the Build-Depends" "below"
fi
: >"$log"

# --- this host --------------------------------------------------------------------------

[[ $(host_rules) == "$host_rules_before" ]] &&
	ok "this host's ruleset is untouched" || not_ok "this host's ruleset is untouched" "it changed"
[[ $(host_pkg) == "$host_pkg_before" ]] &&
	ok "ztseg was not installed on this host (dpkg status '${host_pkg_before:-none}' unchanged)" ||
	not_ok "nothing installed on this host" "'$(host_pkg)'"

finish
