# Checks that stdin is valid Prometheus text exposition (version 0.0.4):
# HELP/TYPE lines, samples "name{labels} value" of a declared metric, and
# histograms whose buckets are cumulative and end in +Inf equal to _count.
# Prints what is wrong and exits 1, or prints the number of samples.
function fail(msg) { print "line " NR ": " msg ": " $0; bad = 1 }
/^# HELP / { next }
/^# TYPE / {
	if ($4 !~ /^(counter|gauge|histogram|summary|untyped)$/) fail("bad type")
	type[$3] = $4
	next
}
/^#/ || /^$/ { next }
{
	if ($0 !~ /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"]*",?)*\})? (-?[0-9.]+(e[-+]?[0-9]+)?|[-+]Inf|NaN)$/) {
		fail("not a sample")
		next
	}
	name = $1
	sub(/\{.*/, "", name)
	base = name
	sub(/_(bucket|sum|count)$/, "", base)
	if (!(name in type) && !(base in type && type[base] == "histogram")) fail("undeclared metric " name)
	if (type[name] == "counter" && $2 < 0) fail("negative counter")
	samples++
	if (name ~ /_bucket$/) {
		series = $1
		sub(/,?le="[^"]*"/, "", series)
		sub(/\{,/, "{", series)
		sub(/\{\}$/, "", series)
		if (series in last && $2 + 0 < last[series] + 0) fail("buckets not cumulative")
		last[series] = $2
		if ($1 ~ /le="\+Inf"/) inf[series] = $2
	}
	if (name ~ /_count$/ && base in type && type[base] == "histogram") {
		key = $1
		sub(/_count/, "_bucket", key)
		counts[key] = $2
	}
}
END {
	for (k in counts)
		if (!(k in inf) || inf[k] != counts[k]) {
			print "histogram " k ": +Inf bucket " inf[k] " but count " counts[k]
			bad = 1
		}
	if (bad) exit 1
	print samples " samples"
}
