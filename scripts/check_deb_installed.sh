#!/bin/sh
# Run by scripts/check_deb.sh inside a throw-away Debian 12 root, as root,
# with the amd64 package at /tmp/edgepaint.deb. Each check says what failed.
set -eu
fail() { echo "FAIL (installed package): $*" >&2; exit 1; }
prompt="a red house on a snowy field at night"

dpkg -i /tmp/edgepaint.deb > /tmp/dpkg.log 2>&1 || { cat /tmp/dpkg.log; fail "dpkg -i"; }

# The user, its groups, its data folder; the unit installed but not enabled.
groups=$(id -nG edgepaint) || fail "no user edgepaint"
for g in gpio spi dialout video; do
    echo " $groups " | grep -q " $g " || fail "edgepaint is not in $g ($groups)"
done
[ "$(stat -c '%U:%G %a' /var/lib/edgepaint)" = "edgepaint:edgepaint 750" ] || fail "/var/lib/edgepaint: $(stat -c '%U:%G %a' /var/lib/edgepaint)"
[ -f /lib/systemd/system/edgepaint-kiosk.service ] || fail "no unit"
if ls /etc/systemd/system/*.wants/edgepaint-kiosk.service 2>/dev/null; then fail "the unit is enabled"; fi
[ "$(getent passwd edgepaint | cut -d: -f7)" = /usr/sbin/nologin ] || fail "edgepaint has a login shell"

# A user runs `generate` with no flags: the installed model, the picture in the working directory.
useradd -m -s /bin/sh pi
su pi -c "cd /home/pi && edgepaint generate '$prompt' --seed 7" > /tmp/gen.log 2>&1 || { cat /tmp/gen.log; fail "generate as a user"; }
edgepaint verify /home/pi/edgepaint-7.png > /dev/null || fail "no watermark in the installed binary's picture"

# ... and `kiosk` with no flags: /etc/edgepaint/board.toml, files under ~/.local/share/edgepaint.
mkdir /home/pi/work && chown pi /home/pi/work
echo "$prompt" | su pi -c "cd /home/pi/work && edgepaint kiosk" > /tmp/kiosk-user.log 2>&1 || { cat /tmp/kiosk-user.log; fail "kiosk as a user"; }
ls /home/pi/.local/share/edgepaint/pictures/*.png > /dev/null || fail "the user's kiosk picture is not in ~/.local/share/edgepaint/pictures"
[ -f /home/pi/.local/share/edgepaint/frames/latest.png ] || fail "no frames in ~/.local/share/edgepaint/frames"
[ -z "$(ls -A /home/pi/work)" ] || fail "the kiosk wrote into its working directory: $(ls -A /home/pi/work)"

# The kiosk as the unit runs it: its user, its environment (systemd sets
# STATE_DIRECTORY from StateDirectory=), its working directory, its command
# line reading stdin instead of --no-stdin (no systemd in a chroot).
unit=/lib/systemd/system/edgepaint-kiosk.service
user=$(sed -n 's/^User=//p' $unit)
state=/var/lib/$(sed -n 's/^StateDirectory=//p' $unit)
command=$(sed -n 's/^ExecStart=//p' $unit | sed 's/ --no-stdin//')
cd "$(sed -n 's/^WorkingDirectory=//p' $unit)"
echo "$prompt" | env -i PATH=/usr/bin:/bin STATE_DIRECTORY="$state" \
    setpriv --reuid "$user" --regid "$user" --init-groups $command > /tmp/kiosk-service.log 2>&1 \
    || { cat /tmp/kiosk-service.log; fail "kiosk as the service"; }
cd /
picture=$(ls /var/lib/edgepaint/pictures/*.png | head -n 1)
[ "$(stat -c %U "$picture")" = edgepaint ] || fail "$picture is not the service user's"
[ -f /var/lib/edgepaint/frames/latest.png ] || fail "no frames in /var/lib/edgepaint/frames"

# An upgrade (the same package again) keeps a changed conffile.
echo "# changed by the operator" >> /etc/edgepaint/board.toml
dpkg -i /tmp/edgepaint.deb > /tmp/dpkg.log 2>&1 || { cat /tmp/dpkg.log; fail "dpkg -i again"; }
grep -q "changed by the operator" /etc/edgepaint/board.toml || fail "reinstalling replaced the changed board file"

# Remove: the program goes; the board file, the user and the pictures stay.
dpkg -r edgepaint > /tmp/dpkg.log 2>&1 || { cat /tmp/dpkg.log; fail "dpkg -r"; }
[ ! -e /usr/bin/edgepaint ] && [ ! -e /usr/share/edgepaint ] && [ ! -e $unit ] || fail "dpkg -r left program files"
grep -q "changed by the operator" /etc/edgepaint/board.toml || fail "dpkg -r removed the board file (a conffile)"
id edgepaint > /dev/null || fail "dpkg -r removed the user"
[ -f "$picture" ] || fail "dpkg -r removed the pictures"

# Purge: the board file, the user and /var/lib/edgepaint go; the groups stay.
dpkg -P edgepaint > /tmp/dpkg.log 2>&1 || { cat /tmp/dpkg.log; fail "dpkg -P"; }
[ ! -e /etc/edgepaint ] || fail "dpkg -P left /etc/edgepaint: $(ls -A /etc/edgepaint)"
! id edgepaint > /dev/null 2>&1 || fail "dpkg -P left the user"
! getent group edgepaint > /dev/null || fail "dpkg -P left the group edgepaint"
[ ! -e /var/lib/edgepaint ] || fail "dpkg -P left /var/lib/edgepaint"
getent group gpio > /dev/null || fail "dpkg -P removed the group gpio"
dpkg -s edgepaint > /dev/null 2>&1 && fail "dpkg still knows edgepaint after purge"
echo "installed package: generate, kiosk (user and service), upgrade, remove, purge hold"
