/* SPDX-License-Identifier: MIT */
/*
 * fuzz/ops.h - the operations of fuzz_api, one per FZ_OP_* (fuzz_ops.h);
 * @a points to the record's four argument bytes. Each calls the library,
 * asks the model for the result and compares.
 */
#ifndef GPC_FUZZ_OPERATIONS_H
#define GPC_FUZZ_OPERATIONS_H

#include <stdbool.h>
#include <stdint.h>

/* Run record @rec; a HOLD takes the next record from [*next, end) and runs
 * it inside the held access (@next NULL: inside one already, no HOLD). */
void dispatch(const uint8_t *rec, const uint8_t **next, const uint8_t *end);

/* ops_slot.c */
void op_slot_create(const uint8_t *a);
void op_slot_delete(const uint8_t *a);
void op_slot_move(const uint8_t *a);
void op_slot_flags(const uint8_t *a);
void op_slot_txn(const uint8_t *a);

/* ops_cache.c */
void op_init(const uint8_t *a);
void op_activate(const uint8_t *a, bool hva_mode);
void op_deactivate(const uint8_t *a);
void op_refresh(const uint8_t *a);
void op_read(const uint8_t *a);
void op_write(const uint8_t *a);
void op_copy(const uint8_t *a);
void op_check(const uint8_t *a);
void op_guest(const uint8_t *a);

/* ops_inval.c */
void op_inval(const uint8_t *a);
void op_inval_nb(const uint8_t *a);
void op_inval_end(const uint8_t *a);
void op_helper(const uint8_t *a);

/* ops_vcpu.c */
void op_enter(void);
void op_exit(void);
void op_handle(void);
void op_request(const uint8_t *a);
void op_vcpu_life(const uint8_t *a);

/* ops_domain.c */
void op_domain(const uint8_t *a);

/* ops_listen.c */
void op_listen(const uint8_t *a);

/* ops_dirty.c */
void op_dirty(const uint8_t *a);

/* ops_import.c */
void op_import(const uint8_t *a);

#endif /* GPC_FUZZ_OPERATIONS_H */
