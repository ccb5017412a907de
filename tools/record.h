/* Reading one log line into a checked record.
 *
 * Every line is JSON, parsed by jansson.  Jansson costs about 5 µs a record
 * on the reference machine, too slow for a million records in two seconds,
 * so lines in the exact shape libephport writes (one flat object, no
 * whitespace, no escapes, known keys each once) are first scanned by a
 * strict recogniser of that subset of JSON.  Whatever it does not fully
 * recognise goes to jansson, which decides; it never rejects a line itself.
 * Both paths fill the same typed slots, checked by one validator, so a line
 * means the same whichever path read it (tests/test_tool_record.c compares
 * them on the library's own encoder output and on damaged lines). */
#ifndef EP_RECORD_H
#define EP_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Keys of the schema, in the order libephport writes them (a call record
 * has no via / outcome_ns; an outcome record none of strategy ... total_ns). */
enum rec_key {
	K_V, K_EV, K_TS, K_PID, K_TID, K_COMM, K_FD, K_CONN, K_PROTO, K_FAMILY,
	K_SRC, K_SPORT, K_DST, K_DPORT, K_STRATEGY, K_REASON, K_FALLBACK,
	K_COMMIT, K_AGAIN, K_BLOCKING, K_TRIES, K_COLLISIONS, K_SELECT_NS,
	K_REFUSED_NS, K_LOOKUP_NS, K_CONNECT_NS, K_TOTAL_NS, K_VIA, K_OUTCOME_NS,
	K_SYN_RETRANS, K_RTT_US, K_RESULT, K_ERRNO, K_COUNT
};

extern const char *const rec_key_names[K_COUNT];

enum jtype { J_ABSENT = 0, J_INT, J_REAL, J_STR, J_TRUE, J_FALSE, J_NULL, J_OTHER };

struct jval {
	enum jtype t;
	int64_t i;        /* J_INT */
	double d;         /* J_INT and J_REAL */
	const char *s;    /* J_STR, not NUL-terminated */
	size_t len;
};

/* The values of the known keys of one line, as parsed. */
struct rawrec {
	struct jval f[K_COUNT];
};

/* A string in a record: points into the line (or into jansson's copy). */
struct rstr {
	const char *s;
	size_t len;
};

/* What rec_parse() found. */
enum { REC_MALFORMED = -1, REC_CALL = 0, REC_OTHER = 1, REC_OUTCOME = 2 };

/* A record that passed the validator: a connect() call (REC_CALL), or the
 * outcome of a non-blocking connect learned later (REC_OUTCOME, schema 2).
 * Fields a kind does not have are 0 / absent. */
struct rec {
	int kind;          /* REC_CALL or REC_OUTCOME */
	int v;             /* schema version: 1 or 2 */
	double ts;         /* a call's start; an outcome: when it was learned */
	int64_t pid;
	struct rstr comm, dst, strategy, reason, result; /* reason.s NULL: absent */
	struct rstr src;   /* local address after the call; s NULL: absent */
	struct rstr conn;  /* "<cookie>.<n>"; s NULL: absent (schema 1) */
	struct rstr via;   /* outcome: so_error, connect or close */
	struct rstr proto; /* tcp, udp, other; s NULL: absent */
	uint16_t sport, dport;
	bool fallback;
	bool again;        /* a call that started no connection */
	uint64_t tries, collisions, select_ns, connect_ns, total_ns;
	uint64_t refused_ns, lookup_ns; /* parts of select_ns (0 in schema 1) */
	uint64_t outcome_ns;            /* outcome: from the call's start */
	bool has_syn;      /* syn_retrans given */
	uint64_t syn_retrans;
	uint64_t rtt_us;   /* 0: none given */
};

/* The recogniser: 1 when LINE[0..LEN) (a trailing '\n' allowed) is in the
 * subset described above, with RAW filled; 0 when jansson must decide. */
int rec_scan_fast(const char *line, size_t len, struct rawrec *raw);

/* Check types, presence and ranges: REC_CALL or REC_OUTCOME with OUT
 * filled, REC_OTHER (a kind this reader does not know), or REC_MALFORMED. */
int rec_validate(const struct rawrec *raw, struct rec *out);

/* A reader keeps the jansson tree that the last record's strings point
 * into, until the next call. */
struct rec_reader {
	void *json;        /* json_t * of the last slow-path line, or NULL */
	bool no_fast;      /* always use jansson */
	uint64_t fast, slow; /* lines read by each path */
};

/* Parse one line: REC_CALL or REC_OUTCOME and OUT filled; REC_OTHER for
 * a JSON object of another record kind (an "ev" key whose value is neither
 * "connect" nor, from schema 2 on, "outcome": kinds this reader does not
 * know; readers count and skip them); or REC_MALFORMED (not JSON, not an
 * object, a required key missing, a wrong type or range).  A record
 * without "ev" is a call record (schema 1 has no other kind).  Keys a
 * record does not know are ignored.  OUT's strings stay valid until the
 * next call or rec_reader_done(). */
int rec_parse(struct rec_reader *r, const char *line, size_t len,
              struct rec *out);
void rec_reader_done(struct rec_reader *r);

/* The jansson path alone (for tests): fills RAW; -1 if not a JSON object.
 * *JSON receives the tree to release with rec_json_free(). */
int rec_scan_json(const char *line, size_t len, struct rawrec *raw, void **json);
void rec_json_free(void *json);

#endif
