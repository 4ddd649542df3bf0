package org.smipc;

/**
 * One message a {@link Client} received ({@link Client#recvMessage}): its bytes, and
 * whether the server broadcast it to every client or sent it to this client alone.
 *
 * @param data the whole message, possibly empty
 * @param broadcast true when it came from {@link Server#broadcast}, false for one sent
 *     with {@link Server#send} to this client
 */
public record Received(byte[] data, boolean broadcast) {}
