#!/usr/bin/env bash
# readme-flow.sh BASE_URL [ADMIN_PASSWORD]: the curl commands README.md
# shows (Try it, Accounts and tokens, Orders, Events, The storefront, Tracing), run against a gateway and
# checked: status codes, headers and the fields the README points at.
#
#   deploy/smoke/readme-flow.sh http://localhost:8080 <the password make run prints>
#   deploy/smoke/readme-flow.sh http://127.0.0.1:8080 \
#     "$(docker compose exec user-db cat /run/secrets/user_admin_password)"
#
# The admin password is the argument, else $KITSHOP_ADMIN_PASSWORD (no
# default: compose generates it); the email is $KITSHOP_ADMIN_EMAIL or
# admin@kitshop.local. Names it creates (SKU, email) are unique per run, so
# it can run again against the same databases. Needs curl, sed and grep.
# Prints one line per check and ends with "readme-flow: N passed, N failed";
# exits non-zero if any failed.
set -uo pipefail

base=${1:?usage: readme-flow.sh BASE_URL [ADMIN_PASSWORD]}
base=${base%/}
admin_password=${2:-${KITSHOP_ADMIN_PASSWORD:?usage: readme-flow.sh BASE_URL ADMIN_PASSWORD (or set KITSHOP_ADMIN_PASSWORD)}}
admin_email=${KITSHOP_ADMIN_EMAIL:-admin@kitshop.local}
run=$(date +%s)$$$RANDOM

passed=0
failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# call METHOD PATH [curl args...]: the response body in $body, the status in
# $status, the headers in $headers.
call() {
	local method=$1 path=$2
	shift 2
	status=$(curl -sS -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}' --max-time 10 \
		-X "$method" "$@" "$base$path") || status=000
	body=$(cat "$tmp/body" 2>/dev/null || true)
	headers=$(tr -d '\r' <"$tmp/headers" 2>/dev/null || true)
}

# check NAME WANT_STATUS [PATTERN...]: the last call answered WANT_STATUS and
# its body (or, for a pattern starting with "header:", its headers) matches
# every extended regular expression PATTERN.
check() {
	local name=$1 want=$2 p ok=1 why=""
	shift 2
	if [ "$status" != "$want" ]; then
		ok=0
		why="status $status, want $want"
	fi
	for p in "$@"; do
		if [[ $p == header:* ]]; then
			grep -qiE "${p#header:}" <<<"$headers" || { ok=0; why="${why:+$why; }no header matching ${p#header:}"; }
		else
			grep -qE "$p" <<<"$body" || { ok=0; why="${why:+$why; }body does not match $p"; }
		fi
	done
	if [ $ok = 1 ]; then
		passed=$((passed + 1))
		echo "ok    $name"
	else
		failed=$((failed + 1))
		echo "FAIL  $name: $why"
		echo "      body: ${body:0:300}"
	fi
}

field() { sed -nE "s/.*\"$1\":\"([^\"]+)\".*/\1/p" <<<"$body" | head -n1; }
stock() { sed -nE 's/.*"stock":([0-9]+).*/\1/p' <<<"$body" | head -n1; }
json=(-H 'Content-Type: application/json')

# ---- Try it -----------------------------------------------------------------

call GET '/api/v1/products?limit=5'
check "the seeded catalog" 200 '"products":\[\{' '"sku":"'

# ---- Tracing: make run and compose record every request --------------------

call GET '/api/v1/products?limit=1'
check "the response names its trace" 200 'header:^trace-id: [0-9a-f]{32}$'

call POST /api/v1/auth/login "${json[@]}" -d "{\"email\":\"$admin_email\",\"password\":\"$admin_password\"}"
check "admin logs in" 200 '"access_token":"'
ADMIN=$(field access_token)

call POST /api/v1/products -H "Authorization: Bearer $ADMIN" "${json[@]}" \
	-d "{\"sku\":\"DEMO-$run\",\"name\":\"Demo mug\",\"description\":\"Stoneware, 350 ml\",\"price_minor\":1500,\"currency\":\"EUR\",\"stock\":10}"
check "admin creates a product" 201 "\"sku\":\"DEMO-$run\"" '"stock":10'
ID=$(field id)

call GET "/api/v1/products/$ID"
check "anyone gets it" 200 "\"id\":\"$ID\"" '"price_minor":1500'

call PATCH "/api/v1/products/$ID" -H "Authorization: Bearer $ADMIN" "${json[@]}" -d '{"price_minor":1299,"stock":7}'
check "admin patches price and stock" 200 '"price_minor":1299' '"stock":7' '"name":"Demo mug"'

call DELETE "/api/v1/products/$ID" -H "Authorization: Bearer $ADMIN"
check "admin deletes it" 204

call DELETE "/api/v1/products/$ID"
check "no token: 401 with a challenge" 401 'header:^WWW-Authenticate: Bearer' '"kind":"unauthenticated"'

call POST /api/v1/products -H "Authorization: Bearer $ADMIN" "${json[@]}" \
	-d '{"sku":"X-1","name":"","price_minor":-1,"currency":"EUR","stock":1}'
check "bad input: 400 problem listing the fields" 400 'header:^Content-Type: application/problem\+json' \
	'"kind":"invalid"' '"field":"name"' '"field":"price_minor"'

call GET /api/v1/products/not-a-uuid
check "a bad id: 400 problem" 400 'header:^Content-Type: application/problem\+json' '"kind":"invalid"'

# ---- Accounts and tokens ----------------------------------------------------

email="ada-$run@example.com"
call POST /api/v1/users "${json[@]}" -d "{\"email\":\"$email\",\"password\":\"correct-horse-42\",\"name\":\"Ada\"}"
check "sign up: 202" 202 '"status":"accepted"'
first=$body

# The same email again: the same answer, so nobody learns who has an account.
call POST /api/v1/users "${json[@]}" -d "{\"email\":\"$email\",\"password\":\"another-horse-43\",\"name\":\"Eve\"}"
check "sign up again: the same 202" 202 '"status":"accepted"'
if [ "$body" = "$first" ]; then
	passed=$((passed + 1))
	echo "ok    sign up again: word for word the first answer"
else
	failed=$((failed + 1))
	echo "FAIL  sign up again: the answer differs from the first sign-up's: ${body:0:300}"
fi

call POST /api/v1/auth/login "${json[@]}" -d "{\"email\":\"$email\",\"password\":\"correct-horse-42\"}"
check "customer logs in" 200 '"access_token":"' '"refresh_token":"'
TOKEN=$(field access_token)
REFRESH=$(field refresh_token)

call GET /api/v1/users/me -H "Authorization: Bearer $TOKEN"
check "who am I" 200 "\"email\":\"$email\""

call POST /api/v1/products -H "Authorization: Bearer $TOKEN" "${json[@]}" \
	-d "{\"sku\":\"DEMO2-$run\",\"name\":\"Demo cup\",\"price_minor\":900,\"currency\":\"EUR\"}"
check "a customer may not change the catalog: 403" 403 '"kind":"forbidden"'

call POST /api/v1/auth/refresh "${json[@]}" -d "{\"refresh_token\":\"$REFRESH\"}"
check "refresh gives a new pair" 200 '"access_token":"' '"refresh_token":"'
REFRESH=$(field refresh_token)

call POST /api/v1/auth/logout "${json[@]}" -d "{\"refresh_token\":\"$REFRESH\"}"
check "log out" 204

# ---- Orders -----------------------------------------------------------------

call GET '/api/v1/products?q=HOM-MUG-350&limit=1'
check "the seeded mug" 200 '"sku":"HOM-MUG-350"'
PID=$(field id)
call GET "/api/v1/products/$PID"
before=$(stock)

KEY="demo-$run"
order_body="{\"items\":[{\"product_id\":\"$PID\",\"quantity\":2}]}"
call POST /api/v1/orders -H "Authorization: Bearer $TOKEN" "${json[@]}" -H "Idempotency-Key: $KEY" -d "$order_body"
check "order 2 mugs: 201 confirmed" 201 '"status":"confirmed"' '"quantity":2'
ORDER=$(field id)

call POST /api/v1/orders -H "Authorization: Bearer $TOKEN" "${json[@]}" -H "Idempotency-Key: $KEY" -d "$order_body"
check "the same request again: 200, the same order" 200 'header:^Idempotent-Replayed: true' "\"id\":\"$ORDER\""

call POST /api/v1/orders -H "Authorization: Bearer $TOKEN" "${json[@]}" -H "Idempotency-Key: $KEY" \
	-d "{\"items\":[{\"product_id\":\"$PID\",\"quantity\":3}]}"
check "the same key, other lines: 409" 409

call GET /api/v1/orders -H "Authorization: Bearer $TOKEN"
check "Ada's orders" 200 "\"id\":\"$ORDER\""

call GET "/api/v1/orders/$ORDER?expand=products,payment" -H "Authorization: Bearer $TOKEN"
check "the order with its products and payment, one request" 200 "\"id\":\"$ORDER\"" '"expanded":' '"products":\{"status":"ok"\}' '"product":\{"id":"'

call GET "/api/v1/products/$PID"
check "the stock is 2 lower" 200 "\"stock\":$((before - 2))[,}]"

call POST "/api/v1/orders/$ORDER/cancel" -H "Authorization: Bearer $TOKEN"
check "cancel: 200 cancelled" 200 '"status":"cancelled"'

call GET "/api/v1/products/$PID"
check "the mugs are back in stock" 200 "\"stock\":${before}[,}]"

call POST /api/v1/orders -H "Authorization: Bearer $TOKEN" "${json[@]}" \
	-d "{\"items\":[{\"product_id\":\"$PID\",\"quantity\":1000}]}"
check "more than there is: 409" 409 '"kind":"conflict"' 'only [0-9]+ left'

# ---- Events: the asynchronous half ------------------------------------------

# await_status ID STATUS: polls the order (up to 10 s) until it has STATUS.
await_status() {
	local i
	for i in $(seq 1 50); do
		call GET "/api/v1/orders/$1" -H "Authorization: Bearer $TOKEN"
		grep -q "\"status\":\"$2\"" <<<"$body" && return 0
		sleep 0.2
	done
}

call POST /api/v1/orders -H "Authorization: Bearer $TOKEN" "${json[@]}" \
	-d "{\"items\":[{\"product_id\":\"$PID\",\"quantity\":1}],\"payment_method\":\"pm_card_visa\"}"
check "pay with pm_card_visa: 201 confirmed" 201 '"status":"confirmed"' '"payment_method":"pm_card_visa"'
PAID=$(field id)
await_status "$PAID" paid
check "then paid" 200 '"status":"paid"'
call GET "/api/v1/payments?order_id=$PAID" -H "Authorization: Bearer $TOKEN"
check "its payment: succeeded" 200 '"status":"succeeded"' "\"order_id\":\"$PAID\""

call GET "/api/v1/products/$PID"
before=$(stock)
call POST /api/v1/orders -H "Authorization: Bearer $TOKEN" "${json[@]}" \
	-d "{\"items\":[{\"product_id\":\"$PID\",\"quantity\":1}],\"payment_method\":\"pm_card_chargeDeclined\"}"
check "a declined card: 201 confirmed" 201 '"status":"confirmed"'
DECLINED=$(field id)
await_status "$DECLINED" cancelled
check "then cancelled: payment_declined" 200 '"status":"cancelled"' '"cancel_reason":"payment_declined"'
call GET "/api/v1/payments?order_id=$DECLINED" -H "Authorization: Bearer $TOKEN"
check "its payment: failed, card_declined" 200 '"status":"failed"' '"decline_code":"card_declined"'
for i in $(seq 1 50); do
	call GET "/api/v1/products/$PID"
	[ "$(stock)" = "$before" ] && break
	sleep 0.2
done
check "the declined order's mug is back in stock" 200 "\"stock\":${before}[,}]"

for i in $(seq 1 50); do
	call GET '/api/v1/notifications?limit=3' -H "Authorization: Bearer $TOKEN"
	grep -q '"kind":"order_payment_failed"' <<<"$body" && break
	sleep 0.2
done
check "the notifications that followed" 200 '"kind":"order_payment_failed"' '"unread_count":[1-9]'
call POST /api/v1/notifications/read-all -H "Authorization: Bearer $TOKEN"
check "mark them all read" 200 '"marked_read":[0-9]+'

call POST /api/v1/orders -H "Authorization: Bearer $TOKEN" "${json[@]}" \
	-d "{\"items\":[{\"product_id\":\"$PID\",\"quantity\":1}],\"payment_method\":\"pm_card_amex\"}"
check "an unknown payment method: 400" 400 '"field":"payment_method"'

# The storefront (README: The storefront), through the same gateway.
call GET '/?q=mug'
check "the storefront's catalog page" 200 'header:^Content-Type: text/html' "header:^Content-Security-Policy: default-src 'none'" '<title>Search: mug · kitshop</title>'
call GET /api/v1/nothing
check "an API path nobody serves: a 404 problem, not a page" 404 'header:^Content-Type: application/problem\+json'

echo "readme-flow: $passed passed, $failed failed"
[ "$failed" = 0 ]
