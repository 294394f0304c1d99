/*
 * nsm-sim front-ends: every internal front-end header at once, for code written before the
 * split. New code includes the one header of each concern it uses:
 *
 *   log.h       one line per event on stderr
 *   frame.h     `u32 LE length || CBOR` framing over a stream descriptor
 *   device.h    the device seam (handler, copier, the driver's ioctl rules, the descriptor)
 *   client.h    one connection per process to a server, as a handler
 *   server.h    the socket server
 *   messages.h  the NSM message table (messages.def) and the request codec's two halves
 *   codec.h     the official library's requests and responses
 *   envopts.h   the state options from the environment
 *   commands.h  `nsm-sim serve` and `nsm-sim exec`
 */
#ifndef NSMSIM_FRONTEND_H
#define NSMSIM_FRONTEND_H

#include "client.h"
#include "codec.h"
#include "commands.h"
#include "device.h"
#include "envopts.h"
#include "frame.h"
#include "log.h"
#include "messages.h"
#include "server.h"

#endif /* NSMSIM_FRONTEND_H */
