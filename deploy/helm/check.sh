#!/usr/bin/env bash
# Lints and renders the chart in both shapes, refuses the bbolt one with several replicas, and
# validates the renderings (deploy/helm/validate) against the committed ones in testdata/.
#   deploy/helm/check.sh HELM            check (CI)
#   deploy/helm/check.sh HELM -update    rewrite testdata/ after changing the chart
set -euo pipefail
cd "$(dirname "$0")/../.."
helm=$1
chart=deploy/helm/elevate
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for shape in bbolt postgres; do
	"$helm" lint --strict "$chart" -f "$chart/ci/$shape.yaml"
	"$helm" template elevate "$chart" -f "$chart/ci/$shape.yaml" >"$out/$shape.yaml"
done
if [ "${2:-}" = -update ]; then
	cp "$out/bbolt.yaml" "$out/postgres.yaml" deploy/helm/testdata/
	echo "deploy/helm/testdata rewritten"
fi
for shape in bbolt postgres; do
	if ! diff -u "deploy/helm/testdata/$shape.yaml" "$out/$shape.yaml"; then
		echo "deploy/helm/testdata/$shape.yaml is not what the chart renders: run deploy/helm/check.sh HELM -update and review the diff" >&2
		exit 1
	fi
done
go run ./deploy/helm/validate -mode bbolt -replicas 1 "$out/bbolt.yaml"
go run ./deploy/helm/validate -mode postgres -replicas 3 "$out/postgres.yaml"
# The refusal: several replicas on bbolt must not render.
if "$helm" template elevate "$chart" -f "$chart/ci/bbolt.yaml" --set replicaCount=2 >"$out/refused.yaml" 2>"$out/refused.err"; then
	echo "the chart rendered replicaCount=2 on bbolt; it must refuse" >&2
	exit 1
fi
grep -q "bbolt is one writer on one disk" "$out/refused.err" || { cat "$out/refused.err" >&2; echo "the refusal does not say why" >&2; exit 1; }
# And PostgreSQL without the Secret holding its URL.
if "$helm" template elevate "$chart" -f "$chart/ci/postgres.yaml" --set database.existingSecret= >/dev/null 2>"$out/refused.err"; then
	echo "the chart rendered postgres without database.existingSecret; it must refuse" >&2
	exit 1
fi
# And Entra authentication to the database without workload identity (no token to log in with),
# or on bbolt.
if "$helm" template elevate "$chart" -f "$chart/ci/postgres.yaml" --set workloadIdentity.enabled=false >/dev/null 2>"$out/refused.err"; then
	echo "the chart rendered database.auth=entra without workload identity; it must refuse" >&2
	exit 1
fi
grep -q "gets its database tokens through workload identity" "$out/refused.err" || { cat "$out/refused.err" >&2; echo "the refusal does not say why" >&2; exit 1; }
if "$helm" template elevate "$chart" -f "$chart/ci/bbolt.yaml" --set database.auth=entra >/dev/null 2>"$out/refused.err"; then
	echo "the chart rendered database.auth=entra on bbolt; it must refuse" >&2
	exit 1
fi
# And what values.schema.json refuses: an unknown store, and an inline secret key the chart has none of.
for bad in database.type=mysql database.password=x database.auth=token; do
	if "$helm" template elevate "$chart" -f "$chart/ci/bbolt.yaml" --set "$bad" >/dev/null 2>&1; then
		echo "the chart rendered with --set $bad; values.schema.json must refuse it" >&2
		exit 1
	fi
done
echo "chart: lint, renderings, validation and refusals OK"
