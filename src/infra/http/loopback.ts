/**
 * Loopback names, for servers that answer only on this machine unless an operator gives them a
 * token or a public URL: one definition for the inspector, the connect page and the sandbox chat.
 */

/** A Host header naming this machine (with or without a port): what a DNS-rebinding page cannot send. */
export const LOOPBACK_HOST_HEADER = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])(:\d+)?$/i;

/** An address to bind to that only this machine can reach. */
export const LOOPBACK_BIND_HOST = /^(localhost|127(?:\.\d{1,3}){3}|::1)$/i;
