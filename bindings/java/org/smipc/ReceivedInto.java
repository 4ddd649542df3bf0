package org.smipc;

/**
 * What {@link Client#recvMessageInto} received into the caller's buffer: the message's
 * length, and whether the server broadcast it to every client or sent it to this client
 * alone.
 *
 * @param length the message's length in bytes (the buffer's position moved past it)
 * @param broadcast true when it came from {@link Server#broadcast}, false for one sent with
 *     {@link Server#send} (or a server's loan) to this client
 */
public record ReceivedInto(int length, boolean broadcast) {}
