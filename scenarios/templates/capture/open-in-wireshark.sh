#!/bin/sh
# Opens one link's packets of this cell in Wireshark, both TLS legs decrypted with keys.log.
# Usage: ./open-in-wireshark.sh [access|wan|tunnel|lan]   (default: {{link}})
cd "$(dirname "$0")" && exec wireshark -o tls.keylog_file:keys.log -r "${1:-{{link}}}.pcapng"
