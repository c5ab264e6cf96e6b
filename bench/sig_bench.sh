#!/bin/sh
# sig_bench.sh BUILD — signatures per second (make bench-sig): our JWS EdDSA
# sign and verify (lib/jose.c, through bench/sig_bench.c) against `openssl
# speed -seconds N ed25519` of the same OpenSSL, measured in the same run.
# ROUNDS (3) rounds of: openssl speed, then sig_bench, each operation for
# SIG_SECONDS (3) — interleaved so that both see the same load; medians of
# the rounds and of the per-round ratios.  BENCH_QUICK=1: 1 round of 1 s.
# Results: bench/results/sig.md and sig.json (bench/common.sh).
set -eu
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
. bench/common.sh
if [ "$BENCH_QUICK" = 1 ]; then ROUNDS=${ROUNDS:-1} SIG_SECONDS=${SIG_SECONDS:-1}
else ROUNDS=${ROUNDS:-3} SIG_SECONDS=${SIG_SECONDS:-3}; fi
json_begin sig
out=$BENCH_RESULTS/sig.md
work=$(mktemp -d /tmp/agora-sigbench.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM
median() { sort -n | awk '{v[NR]=$1} END {if (NR) print v[int((NR+1)/2)]}'; }
field() { sed -n "s/.*\\b$1=\([0-9.]*\).*/\1/p"; }
: >"$work/ours"; : >"$work/ossl"
for r in $(seq 1 "$ROUNDS"); do
	# "253 bits EdDSA (Ed25519)   0.0000s   0.0001s  25302.9   9037.5"
	line=$(openssl speed -seconds "$SIG_SECONDS" ed25519 2>/dev/null | grep 'EdDSA (Ed25519)')
	set -- $line
	shift $(($# - 2))
	echo "sign=$1 verify=$2" >>"$work/ossl"
	"$build/bench/sig_bench" "$SIG_SECONDS" >>"$work/ours"
	echo "round $r: openssl $(tail -n 1 "$work/ossl"); agora $(tail -n 1 "$work/ours")"
done
o_sign=$(field sign <"$work/ossl" | median); o_verify=$(field verify <"$work/ossl" | median)
j_sign=$(field jws_sign <"$work/ours" | median); j_verify=$(field jws_verify <"$work/ours" | median)
e_sign=$(field ed25519_sign <"$work/ours" | median); e_verify=$(field ed25519_verify <"$work/ours" | median)
e_rem=$(field ed25519_verify_remembered <"$work/ours" | median)
tok=$(field token_bytes <"$work/ours" | head -n 1); inp=$(field input_bytes <"$work/ours" | head -n 1)
# Per-round ratio of one of our columns to one of openssl's, median.
pr() { # OURS_FIELD OSSL_FIELD
	field "$1" <"$work/ours" >"$work/a"; field "$2" <"$work/ossl" >"$work/b"
	paste -d' ' "$work/a" "$work/b" | awk '$2 > 0 {printf "%.2f\n", $1 / $2}' | median
}
r_js=$(pr jws_sign sign); r_jv=$(pr jws_verify verify)
r_es=$(pr ed25519_sign sign); r_ev=$(pr ed25519_verify verify)
ossl=$(openssl version | cut -d' ' -f1-2)
cat >"$out" <<EOT
# Signature benchmark

Run by \`make bench-sig\` (bench/sig_bench.c, bench/sig_bench.sh) on $(date -u +%Y-%m-%dT%H:%MZ),
$(nproc) CPUs ($(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)), $ossl, load average
$(cut -d' ' -f1-3 /proc/loadavg). One thread; ${ROUNDS} rounds of \`openssl speed -seconds ${SIG_SECONDS} ed25519\`
followed by our bench (${SIG_SECONDS} s per operation); medians of the rounds, ratios per round.

| operation | agora /s | \`openssl speed\` /s | ratio |
|---|---|---|---|
| JWS sign: \`agora_jwt_sign\` of an access token's claims (JSON, base64url, Ed25519) | ${j_sign} | ${o_sign} (sign) | ${r_js} |
| JWS verify: \`agora_jws_parse\` + \`agora_jws_verify\` of that ${tok}-byte token | ${j_verify} | ${o_verify} (verify) | ${r_jv} |
| Ed25519 sign of the ${inp}-byte signing input (\`agora_ed25519_sign\`) | ${e_sign} | ${o_sign} | ${r_es} |
| Ed25519 verify (\`agora_ed25519_verify\`) | ${e_verify} | ${o_verify} | ${r_ev} |
| the same signature again, remembered (no curve arithmetic) | ${e_rem} | — | — |

\`openssl speed\` signs and verifies a short fixed message with a key it keeps; our
primitive rows differ from it by the message length and OpenSSL's EVP context set-up per
call (\`EVP_DigestSignInit\`), the JWS rows also by the JSON and base64url work around it.
The verify rows forget the signatures \`agora_ed25519_verify\` remembers (those that
verified before in the process, or that it signed) before each call, so that they measure
a first verification; the last row is a signature verified again.
EOT
cat "$out"
json_param rounds "$ROUNDS"; json_param seconds "$SIG_SECONDS"; json_param openssl "$ossl"
json_param token_bytes "$tok"
json_fig id=jws_sign "label=JWS EdDSA sign (agora_jwt_sign, access token)" value="$j_sign" unit=/s \
	anchor="$o_sign" ratio="$r_js" "anchor_label=openssl speed ed25519: sign/s"
json_fig id=jws_verify "label=JWS EdDSA parse + verify" value="$j_verify" unit=/s \
	anchor="$o_verify" ratio="$r_jv" "anchor_label=openssl speed ed25519: verify/s"
json_fig id=ed25519_sign "label=Ed25519 sign (agora_ed25519_sign)" value="$e_sign" unit=/s \
	anchor="$o_sign" ratio="$r_es" "anchor_label=openssl speed ed25519: sign/s"
json_fig id=ed25519_verify "label=Ed25519 verify (agora_ed25519_verify)" value="$e_verify" unit=/s \
	anchor="$o_verify" ratio="$r_ev" "anchor_label=openssl speed ed25519: verify/s"
json_fig id=ed25519_verify_remembered "label=Ed25519 verify of a remembered signature" value="$e_rem" unit=/s
json_end
