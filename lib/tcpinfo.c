/* The handshake facts of a TCP socket, from TCP_INFO.  A file of its own:
 * it needs the kernel's <linux/tcp.h> (glibc's struct tcp_info stops before
 * tcpi_bytes_retrans), which cannot be included with <netinet/tcp.h>. */
#include <linux/tcp.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "outcome.h"

void ep_tcp_facts(int fd, struct ep_tcpfacts *t)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(t, 0, sizeof(*t));
	memset(&ti, 0, sizeof(ti));
	if (syscall(SYS_getsockopt, fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return;
	t->known = true;
	t->state = ti.tcpi_state;
	/* Before any data every retransmission is of the SYN; once data went
	 * out, tcpi_total_retrans counts its retransmissions too, and the
	 * SYNs' alone are known only while no data byte was sent again. */
	size_t need = offsetof(struct tcp_info, tcpi_bytes_retrans) +
	              sizeof(ti.tcpi_bytes_retrans);
	t->syn_known = len >= need && ti.tcpi_bytes_retrans == 0;
	t->syn_retrans = ti.tcpi_total_retrans;
	t->rtt_us = ti.tcpi_rtt;
	/* An RTT sample needs an ACK of something sent; a reset to a SYN
	 * carries none.  Options are agreed only by a SYN-ACK. */
	t->answered = ti.tcpi_rtt != 0 || ti.tcpi_options != 0;
}
