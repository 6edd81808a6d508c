/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The release version, printed by --version; a build may override it with -DZTSEG_VERSION. */
#ifndef ZT_VERSION_H
#define ZT_VERSION_H

#ifndef ZTSEG_VERSION
#define ZTSEG_VERSION "0.1.0"
#endif

#endif
