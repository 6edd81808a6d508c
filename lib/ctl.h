/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control socket between ztsegd and ztsegctl, for callers that use
 * more than one part of it: the protocol (ctl-proto.h), the daemon's
 * server (ctl-server.h), ztsegctl's client (ctl-client.h) and the status
 * document (ctl-status.h).
 */
#ifndef ZT_CTL_H
#define ZT_CTL_H

#include "ctl-proto.h"
#include "ctl-server.h"
#include "ctl-client.h"
#include "ctl-status.h"

#endif
