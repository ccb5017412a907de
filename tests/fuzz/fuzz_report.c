/* libFuzzer target for the log reader of `ephport report` (tools/record.c):
 * every input is one line.
 *   - rec_parse() never crashes, returns REC_CALL, REC_OUTCOME, REC_MALFORMED
 *     or REC_OTHER;
 *   - the fast recogniser and jansson agree: when rec_scan_fast() takes a
 *     line, rec_scan_json() must parse it too, and rec_validate() must give
 *     the same verdict and the same record from both (so a line means the
 *     same whichever path read it);
 *   - a validated record's strings lie inside the line or jansson's tree.
 *
 * Build: clang -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude
 *        -Ilib -Itools tests/fuzz/fuzz_report.c tools/record.c -ljansson */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"

static bool same_str(struct rstr a, struct rstr b)
{
	if (!a.s || !b.s)
		return !a.s && !b.s;
	return a.len == b.len && memcmp(a.s, b.s, a.len) == 0;
}

static bool same_rec(const struct rec *a, const struct rec *b)
{
	return (a->ts == b->ts || (isnan(a->ts) && isnan(b->ts))) && a->pid == b->pid &&
	       same_str(a->comm, b->comm) && same_str(a->dst, b->dst) &&
	       same_str(a->strategy, b->strategy) && same_str(a->reason, b->reason) &&
	       same_str(a->result, b->result) && a->sport == b->sport &&
	       a->dport == b->dport && a->fallback == b->fallback && a->tries == b->tries &&
	       a->collisions == b->collisions && a->select_ns == b->select_ns &&
	       a->connect_ns == b->connect_ns && a->total_ns == b->total_ns &&
	       a->kind == b->kind && a->v == b->v && same_str(a->conn, b->conn) &&
	       same_str(a->via, b->via) && same_str(a->proto, b->proto) &&
	       a->again == b->again && a->refused_ns == b->refused_ns &&
	       a->lookup_ns == b->lookup_ns && a->outcome_ns == b->outcome_ns &&
	       a->has_syn == b->has_syn && a->syn_retrans == b->syn_retrans &&
	       a->rtt_us == b->rtt_us;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A private copy with no slack after it: ASan sees any overread. */
	char *line = malloc(size ? size : 1);
	if (!line)
		return 0;
	memcpy(line, data, size);

	struct rec_reader r;
	memset(&r, 0, sizeof(r));
	struct rec out;
	int rc = rec_parse(&r, line, size, &out);
	if (rc != REC_CALL && rc != REC_OUTCOME && rc != REC_MALFORMED && rc != REC_OTHER)
		abort();
	rec_reader_done(&r);

	struct rawrec fast, slow;
	memset(&fast, 0, sizeof(fast));
	memset(&slow, 0, sizeof(slow));
	if (rec_scan_fast(line, size, &fast) == 1) {
		void *json = NULL;
		if (rec_scan_json(line, size, &slow, &json) != 0)
			abort(); /* the fast path took a line jansson rejects */
		struct rec a, b;
		int va = rec_validate(&fast, &a), vb = rec_validate(&slow, &b);
		if (va != vb)
			abort();
		if ((va == REC_CALL || va == REC_OUTCOME) && !same_rec(&a, &b))
			abort();
		rec_json_free(json);
	}
	free(line);
	return 0;
}
