/*
 * Out-of-line shims for DPDK static inline functions, macros and the
 * rte_errno thread-local, so Rust can call them through plain symbols.
 * Each shim does nothing but forward its arguments.
 */
#include "tandem_ffi.h"

uint16_t tandem_eth_rx_burst(uint16_t port_id, uint16_t queue_id,
			     struct rte_mbuf **rx_pkts, uint16_t nb_pkts)
{
	return rte_eth_rx_burst(port_id, queue_id, rx_pkts, nb_pkts);
}

uint16_t tandem_eth_tx_burst(uint16_t port_id, uint16_t queue_id,
			     struct rte_mbuf **tx_pkts, uint16_t nb_pkts)
{
	return rte_eth_tx_burst(port_id, queue_id, tx_pkts, nb_pkts);
}

struct rte_mbuf *tandem_pktmbuf_alloc(struct rte_mempool *mp)
{
	return rte_pktmbuf_alloc(mp);
}

void tandem_pktmbuf_free(struct rte_mbuf *m)
{
	rte_pktmbuf_free(m);
}

int tandem_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs,
			      unsigned int count)
{
	return rte_pktmbuf_alloc_bulk(mp, mbufs, count);
}

void *tandem_pktmbuf_mtod(struct rte_mbuf *m)
{
	return rte_pktmbuf_mtod(m, void *);
}

char *tandem_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len)
{
	return rte_pktmbuf_prepend(m, len);
}

char *tandem_pktmbuf_adj(struct rte_mbuf *m, uint16_t len)
{
	return rte_pktmbuf_adj(m, len);
}

int tandem_pktmbuf_trim(struct rte_mbuf *m, uint16_t len)
{
	return rte_pktmbuf_trim(m, len);
}

char *tandem_pktmbuf_append(struct rte_mbuf *m, uint16_t len)
{
	return rte_pktmbuf_append(m, len);
}

uint16_t tandem_pktmbuf_headroom(const struct rte_mbuf *m)
{
	return rte_pktmbuf_headroom(m);
}

uint16_t tandem_pktmbuf_tailroom(const struct rte_mbuf *m)
{
	return rte_pktmbuf_tailroom(m);
}

unsigned int tandem_lcore_id(void)
{
	return rte_lcore_id();
}

unsigned int tandem_ring_sp_enqueue_burst(struct rte_ring *r,
					  void *const *obj_table,
					  unsigned int n)
{
	return rte_ring_sp_enqueue_burst(r, obj_table, n, NULL);
}

unsigned int tandem_ring_sc_dequeue_burst(struct rte_ring *r, void **obj_table,
					  unsigned int n)
{
	return rte_ring_sc_dequeue_burst(r, obj_table, n, NULL);
}

unsigned int tandem_ring_count(const struct rte_ring *r)
{
	return rte_ring_count(r);
}

unsigned int tandem_ring_capacity(const struct rte_ring *r)
{
	return rte_ring_get_capacity(r);
}

int tandem_errno(void)
{
	return rte_errno;
}

const char *tandem_strerror(int errnum)
{
	return rte_strerror(errnum);
}

uint64_t tandem_get_tsc_cycles(void)
{
	return rte_get_tsc_cycles();
}

uint64_t tandem_get_tsc_hz(void)
{
	return rte_get_tsc_hz();
}

void tandem_rcu_qsbr_quiescent(struct rte_rcu_qsbr *v, unsigned int thread_id)
{
	rte_rcu_qsbr_quiescent(v, thread_id);
}

void tandem_rcu_qsbr_thread_online(struct rte_rcu_qsbr *v,
				   unsigned int thread_id)
{
	rte_rcu_qsbr_thread_online(v, thread_id);
}

void tandem_rcu_qsbr_thread_offline(struct rte_rcu_qsbr *v,
				    unsigned int thread_id)
{
	rte_rcu_qsbr_thread_offline(v, thread_id);
}
