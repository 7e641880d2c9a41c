#!/bin/sh
# Install an edgepaint kiosk from an unpacked tarball, on a system without
# dpkg (on Debian, Raspberry Pi OS and Ubuntu install the .deb instead:
# README "Install on a Raspberry Pi"). Run as root:
#   board/install.sh board/pi-st7789-240x240.toml [path/to/edgepaint] [path/to/models/scenes]
# (from an unpacked dist bundle: sudo board/install.sh board/NAME.toml)
# Creates the user edgepaint (groups gpio, spi, dialout, video), puts the
# board file under /etc/edgepaint, pictures under /var/lib/edgepaint, the
# binary in /usr/local/bin, the model in /usr/local/share/edgepaint/models,
# and enables the systemd unit. Re-running it updates everything in place.
set -eu

board=${1:?usage: install.sh BOARD.toml [BINARY] [MODEL_DIR]}
here=$(cd "$(dirname "$0")" && pwd)
# Default binary: the one beside board/ in a dist bundle, else a cargo build.
default_binary=$here/../edgepaint
[ -f "$default_binary" ] || default_binary=$here/../target/release/edgepaint
binary=${2:-$default_binary}
model=${3:-$here/../models/scenes}

[ "$(id -u)" -eq 0 ] || { echo "install.sh: run as root" >&2; exit 1; }
[ -f "$board" ] || { echo "install.sh: no board file $board" >&2; exit 1; }
[ -x "$binary" ] || { echo "install.sh: no binary $binary (cargo build --release)" >&2; exit 1; }
[ -f "$model/model.toml" ] || { echo "install.sh: no model bundle in $model" >&2; exit 1; }

for g in gpio spi dialout video; do
    getent group "$g" >/dev/null || groupadd --system "$g"
done
if ! id edgepaint >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/edgepaint --shell /usr/sbin/nologin --user-group edgepaint
fi
usermod -a -G gpio,spi,dialout,video edgepaint

install -d -m 0755 /etc/edgepaint /usr/local/share/edgepaint/models
install -d -m 0750 -o edgepaint -g edgepaint /var/lib/edgepaint /var/lib/edgepaint/pictures
install -m 0644 "$board" /etc/edgepaint/board.toml
# Prompt filter lists sit next to the board file.
install -m 0644 "$here"/filter-*.txt /etc/edgepaint/
install -m 0755 "$binary" /usr/local/bin/edgepaint
rm -rf /usr/local/share/edgepaint/models/scenes
cp -r "$model" /usr/local/share/edgepaint/models/scenes

# Let the groups reach the devices where the distribution does not already.
cat > /etc/udev/rules.d/60-edgepaint.rules <<'RULES'
SUBSYSTEM=="gpio", KERNEL=="gpiochip*", GROUP="gpio", MODE="0660"
SUBSYSTEM=="spidev", GROUP="spi", MODE="0660"
RULES
udevadm control --reload-rules 2>/dev/null || true
udevadm trigger 2>/dev/null || true

# The unit is written for the package's paths; here the binary and the model
# are under /usr/local.
sed -e 's#^ExecStart=/usr/bin/edgepaint#ExecStart=/usr/local/bin/edgepaint#' \
    -e 's#^\[Service\]$#[Service]\nEnvironment=EDGEPAINT_MODEL=/usr/local/share/edgepaint/models/scenes#' \
    "$here/edgepaint-kiosk.service" > /etc/systemd/system/edgepaint-kiosk.service
chmod 0644 /etc/systemd/system/edgepaint-kiosk.service
systemctl daemon-reload
systemctl enable --now edgepaint-kiosk.service
echo "edgepaint kiosk installed: journalctl -u edgepaint-kiosk -f"
