# Writes from trusted networks only: a write to a bucket listed in
# data.network.write_cidrs (network.json) must come from one of its CIDR
# ranges. Reads are not limited, and a bucket not listed has no limit. The
# source address is the client's as s3gate sees it (no proxy headers);
# one that does not parse is outside every range.
package s3gate.authz

# Writes are the actions that create, change or remove something.
network_write_prefixes := ["s3:Put", "s3:Delete", "s3:Create", "s3:Abort", "s3:Restore"]

network_write if {
	some p in network_write_prefixes
	startswith(input.action, p)
}

network_source_allowed(cidrs) if {
	some cidr in cidrs
	net.cidr_contains(cidr, input.request.source_ip)
}

deny contains msg if {
	cidrs := data.network.write_cidrs[input.resource.bucket]
	network_write
	not network_source_allowed(cidrs)
	msg := sprintf("writes to bucket %s are accepted only from %s, not from %q", [input.resource.bucket, concat(", ", cidrs), input.request.source_ip])
}
