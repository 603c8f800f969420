/*
 * Header handed to bindgen: the DPDK 22.11 APIs the Tandem safe layer uses,
 * plus C shims for functions DPDK only offers as static inline functions,
 * macros or thread-local variables (bindgen cannot bind those).
 */
#ifndef TANDEM_FFI_H
#define TANDEM_FFI_H

#include <stdint.h>
#include <stdbool.h>

#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_launch.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <rte_errno.h>
#include <rte_cycles.h>
#include <rte_telemetry.h>
#include <rte_pdump.h>
#include <rte_rcu_qsbr.h>
#include <rte_bus_vdev.h>
#include <rte_dev.h>

/* ethdev fast path */
uint16_t tandem_eth_rx_burst(uint16_t port_id, uint16_t queue_id,
			     struct rte_mbuf **rx_pkts, uint16_t nb_pkts);
uint16_t tandem_eth_tx_burst(uint16_t port_id, uint16_t queue_id,
			     struct rte_mbuf **tx_pkts, uint16_t nb_pkts);

/* mbuf */
struct rte_mbuf *tandem_pktmbuf_alloc(struct rte_mempool *mp);
void tandem_pktmbuf_free(struct rte_mbuf *m);
int tandem_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs,
			      unsigned int count);
void *tandem_pktmbuf_mtod(struct rte_mbuf *m);
char *tandem_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len);
char *tandem_pktmbuf_adj(struct rte_mbuf *m, uint16_t len);
int tandem_pktmbuf_trim(struct rte_mbuf *m, uint16_t len);
char *tandem_pktmbuf_append(struct rte_mbuf *m, uint16_t len);
uint16_t tandem_pktmbuf_headroom(const struct rte_mbuf *m);
uint16_t tandem_pktmbuf_tailroom(const struct rte_mbuf *m);

/* lcore */
unsigned int tandem_lcore_id(void);

/* ring (single producer / single consumer) */
unsigned int tandem_ring_sp_enqueue_burst(struct rte_ring *r,
					  void *const *obj_table,
					  unsigned int n);
unsigned int tandem_ring_sc_dequeue_burst(struct rte_ring *r, void **obj_table,
					  unsigned int n);
unsigned int tandem_ring_count(const struct rte_ring *r);
unsigned int tandem_ring_capacity(const struct rte_ring *r);

/* errors */
int tandem_errno(void);
const char *tandem_strerror(int errnum);

/* time */
uint64_t tandem_get_tsc_cycles(void);
uint64_t tandem_get_tsc_hz(void);

/* RCU QSBR */
void tandem_rcu_qsbr_quiescent(struct rte_rcu_qsbr *v, unsigned int thread_id);
void tandem_rcu_qsbr_thread_online(struct rte_rcu_qsbr *v,
				   unsigned int thread_id);
void tandem_rcu_qsbr_thread_offline(struct rte_rcu_qsbr *v,
				    unsigned int thread_id);

#endif /* TANDEM_FFI_H */
