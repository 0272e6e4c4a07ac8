/* SPDX-License-Identifier: MIT */
/*
 * A client session's protocol: HELLO, REGISTER, UNREGISTER, PUBLISH, and
 * everything a client may get wrong.  Malformed datagrams end the session
 * (the peer is not speaking this protocol); a well-formed request that
 * cannot be granted gets an ERROR and the session goes on.
 */
#ifndef UFFDD_SESSION_PROTO_H
#define UFFDD_SESSION_PROTO_H

struct session;
struct uffdd_msg;
struct worker;

/*
 * Any thread: serve s (a connection, or a session taken back from the fd
 * store) on w.  Its socket, its HELLO deadline and its regions' uffds are
 * watched from w's loop.  0, or -ENOMEM (s is still the caller's).
 */
int session_serve(struct session *s, struct worker *w);
/* The same on the calling worker w, at once. */
void session_serve_here(struct session *s, struct worker *w);

/* session_register.c: REGISTER (the message's descriptors are taken). */
void session_register(struct session *s, struct uffdd_msg *m);

/*
 * session_forked.c: FORKED on p's connection: a session of its own for
 * the child, on the socket the message carries, and its first REGISTER.
 * Nothing is ever sent on p's socket about it.
 */
void session_forked(struct session *p, struct uffdd_msg *m);

#endif
