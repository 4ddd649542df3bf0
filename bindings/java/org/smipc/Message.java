package org.smipc;

/**
 * One message a {@link Server} received: who sent it and its bytes.
 *
 * @param client the id of the client that sent it (as {@link Client#id()} says there)
 * @param data the whole message, possibly empty
 */
public record Message(long client, byte[] data) {}
