/* SPDX-License-Identifier: MIT */
/*
 * gpc/gpc.h - everything of libgpc in one include.
 */
#ifndef GPC_GPC_H
#define GPC_GPC_H

#include <gpc/cache.h>
#include <gpc/dirty.h>
#include <gpc/hostmem.h>
#include <gpc/invalidate.h>
#include <gpc/kvm.h>
#include <gpc/log.h>
#include <gpc/memslot.h>
#include <gpc/seqcount.h>
#include <gpc/srcu.h>
#include <gpc/translate.h>
#include <gpc/vcpu.h>
#include <gpc/version.h>
#include <gpc/vm.h>

#endif /* GPC_GPC_H */
