#!/usr/bin/env bash
# Seeds the fuzz corpora from the shared real AIS files (20-line windows of every file).
set -euo pipefail
cd "$(dirname "$0")"
data=../../../../shared/data/ais
mkdir -p corpus/stream corpus/checksummed
for f in "$data"/*/*; do
  case "$(basename "$f")" in LICENSE*|NOTICE*|COPYING) continue ;; esac
  split -l 20 -d -a 4 "$f" "corpus/stream/$(basename "$f")-"
done
cp corpus/stream/* corpus/checksummed/
