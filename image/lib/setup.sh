# shellcheck shell=bash
# First-boot setup of the appliance, done as an installer does it (issue 17
# §3, decision 0034), shared by image/boot-test and image/update-test:
#
#   setup_token_from_console SERIAL_LOG SECONDS   prints the setup token
#   sip_answers SIP_PORT SECONDS                  0 once SIP answers OPTIONS
#   first_boot_setup HTTPS_PORT TOKEN DIR         admin step, box step, "Selesai"
#
# The console's line (dering-firstboot.service, `dering system
# setup-link`) names the box by the address it got from qemu's DHCP
# (10.0.2.15), which the host cannot reach: the test takes the link's
# token and opens the same path on the forwarded HTTPS port. Needs curl and
# python3; the caller defines fail().

# The token of the one-time link the serial console prints, waiting up to
# SECONDS for the line.
setup_token_from_console() { # serial-log seconds
    local deadline=$((SECONDS + $2)) link
    while ((SECONDS < deadline)); do
        link=$(grep -aoE 'first setup: https://[^ /]+/setup\?token=[0-9a-f]{64}' "$1" | tail -n 1 || true)
        if [[ -n "$link" ]]; then
            echo "${link##*token=}"
            return 0
        fi
        sleep 3
    done
    return 1
}

# Whether anything answers SIP on 127.0.0.1:SIP_PORT (the VM's forwarded
# UDP port): an OPTIONS every 2 s until a SIP response comes or SECONDS
# pass. pbxd answers OPTIONS with 200 without a challenge, so silence
# means nothing listens there.
sip_answers() { # sip-port seconds
    python3 - "$1" "$2" <<'PY'
import random, socket, sys, time
port, wait = int(sys.argv[1]), float(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
lp = s.getsockname()[1]
end = time.monotonic() + wait
n = 0
while time.monotonic() < end:
    n += 1
    msg = (
        f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{lp};branch=z9hG4bK-probe{n}x{random.randrange(1 << 30)};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:probe@127.0.0.1>;tag=probe{n}\r\n"
        "To: <sip:127.0.0.1>\r\n"
        f"Call-ID: setup-probe-{lp}-{n}\r\n"
        f"CSeq: {n} OPTIONS\r\n"
        f"Contact: <sip:probe@127.0.0.1:{lp}>\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    s.sendto(msg.encode(), ("127.0.0.1", port))
    next_try = time.monotonic() + 2
    while time.monotonic() < min(next_try, end):
        s.settimeout(max(0.05, min(next_try, end) - time.monotonic()))
        try:
            data, _ = s.recvfrom(65535)
        except socket.timeout:
            continue
        except OSError:  # an ICMP port unreachable: nothing listens yet
            time.sleep(0.5)
            continue
        if data.startswith(b"SIP/2.0 "):
            print(data.split(b"\r\n", 1)[0].decode(errors="replace"))
            sys.exit(0)
sys.exit(1)
PY
}

# The fields of the form with id FORM in the HTML file PAGE as a browser
# would send them (inputs, hidden ones and the CSRF token included; a
# select's chosen option), urlencoded, with NAME=VALUE overrides.
form_fields() { # page form-id [name=value...]
    python3 - "$@" <<'PY'
import sys
from html.parser import HTMLParser
from urllib.parse import urlencode
page, form_id, overrides = sys.argv[1], sys.argv[2], sys.argv[3:]

class Form(HTMLParser):
    def __init__(self):
        super().__init__()
        self.inside = False
        self.fields = {}
        self.select = None
        self.first = None
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.inside = a.get("id") == form_id
        elif not self.inside:
            return
        elif tag == "input" and a.get("name") and a.get("type") not in ("submit", "button"):
            self.fields[a["name"]] = a.get("value") or ""
        elif tag == "select":
            self.select, self.first = a.get("name"), None
        elif tag == "option" and self.select:
            if self.first is None:
                self.first = a.get("value", "")
                self.fields.setdefault(self.select, self.first)
            if "selected" in a:
                self.fields[self.select] = a.get("value", "")
    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self.select = None

f = Form()
f.feed(open(page, encoding="utf-8").read())
if not f.fields:
    sys.exit(f"no form {form_id} in {page}")
for o in overrides:
    k, v = o.split("=", 1)
    f.fields[k] = v
print(urlencode(f.fields))
PY
}

# The RFC 6238 code (HMAC-SHA1, 6 digits, 30 s) of a base32 secret now.
totp_now() { # base32-secret
    python3 - "$1" <<'PY'
import base64, hashlib, hmac, struct, sys, time
key = sys.argv[1].upper()
key = base64.b32decode(key + "=" * (-len(key) % 8))
mac = hmac.new(key, struct.pack(">Q", int(time.time()) // 30), hashlib.sha1).digest()
o = mac[-1] & 15
print("%06d" % ((struct.unpack(">I", mac[o:o + 4])[0] & 0x7FFFFFFF) % 1000000))
PY
}

# The setup wizard over the forwarded HTTPS port with one cookie jar, as a
# browser would go through it (the box's certificate is its own, so -k):
# the link's page, the admin (login, a password the policy accepts, the
# TOTP code of the secret the page shows), /setup/box with DHCP, then
# "Selesai". Each step's status is checked; the box page is gone after.
first_boot_setup() { # https-port token dir
    local base="https://127.0.0.1:$1" token=$2 d=$3 code secret st
    local c=(curl -sk -m 30 -b "$d/cookies" -c "$d/cookies")
    st=$("${c[@]}" -o "$d/setup.html" -w '%{http_code}' "$base/setup?token=$token") || st=000
    [[ $st == 200 ]] || fail "setup: GET /setup?token=… gave $st"
    secret=$(grep -oE 'otpauth://totp/[^"<]*' "$d/setup.html" | grep -oE 'secret=[A-Z2-7]+' | head -n 1)
    secret=${secret#secret=}
    [[ -n "$secret" ]] || fail "setup: no TOTP secret on the setup page"
    # A code late in its 30 s step may be stale when it arrives.
    (($(date +%s) % 30 < 25)) || sleep 6
    code=$(totp_now "$secret")
    st=$("${c[@]}" -o "$d/admin.html" -w '%{http_code}' \
        --data "$(form_fields "$d/setup.html" setup-form login=admin full_name=Admin \
            password=Rahasia-Dering-2026 code="$code")" "$base/setup") || st=000
    [[ $st == 303 ]] || fail "setup: the admin step gave $st: $(head -c 400 "$d/admin.html")"
    st=$("${c[@]}" -o "$d/box.html" -w '%{http_code}' "$base/setup/box") || st=000
    [[ $st == 200 ]] || fail "setup: GET /setup/box after the admin step gave $st"
    grep -q 'name="_csrf"' "$d/box.html" || fail "setup: /setup/box has no CSRF field"
    st=$("${c[@]}" -o "$d/saved.html" -w '%{http_code}' \
        --data "$(form_fields "$d/box.html" setup-box mode=dhcp port= address= gateway= dns=)" \
        "$base/setup/box") || st=000
    [[ $st == 200 || $st == 303 ]] || fail "setup: saving /setup/box (DHCP) gave $st: $(grep -o 'class="error"[^<]*<strong>[^<]*' "$d/saved.html" | head -n 1)"
    # Without the form's CSRF token "Selesai" is refused.
    st=$("${c[@]}" -o /dev/null -w '%{http_code}' --data '' "$base/setup/finish") || st=000
    [[ $st == 403 ]] || fail "setup: \"Selesai\" without the CSRF token gave $st, not 403"
    st=$("${c[@]}" -o "$d/finish.html" -w '%{http_code}' \
        --data "$(form_fields "$d/box.html" setup-finish)" "$base/setup/finish") || st=000
    [[ $st == 200 || $st == 303 ]] || fail "setup: \"Selesai\" gave $st: $(head -c 400 "$d/finish.html")"
    st=$("${c[@]}" -o /dev/null -w '%{http_code}' "$base/setup/box") || st=000
    [[ $st == 404 ]] || fail "setup: /setup/box still answers $st after \"Selesai\""
}
