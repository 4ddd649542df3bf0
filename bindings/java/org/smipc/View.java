package org.smipc;

import java.lang.ref.Cleaner;
import java.nio.ByteBuffer;

/**
 * A received message read in place ({@link Server#recvView}, {@link Client#recvView}): its
 * bytes are the shared memory the sender wrote, shown read-only with no copy, until {@link
 * #release()} (or {@link #close()}; try-with-resources) lets the sender reuse that memory:
 *
 * <pre>{@code
 * try (View v = srv.recvView(1000)) {
 *   ByteBuffer data = v.data();      // read-only, direct; v.client() sent it
 *   long first = data.getLong(0);
 * }
 * }</pre>
 *
 * <p>Until it is released, other receives on that handle wait. A message that was not in
 * one piece in shared memory is shown from a copy of its own instead ({@link #copied()}),
 * released at once. After the release {@link #data()} throws IllegalStateException; a
 * buffer taken from it earlier stays readable and never crashes (the memory stays mapped,
 * pinned, while it or a buffer made from it is reachable, even after the handle is closed;
 * the pin keeps only the memory, not the handle's descriptors), but
 * what it shows may change once released, as the sender writes there again: copy what you
 * keep. {@link #client()}, {@link #broadcast()} and {@link #length()} still answer.
 */
public final class View implements AutoCloseable {
  private final long client;
  private final boolean broadcast;
  private final boolean copied;
  private final ByteBuffer data;
  private final Handle.Lease lease; // null for a copy: released already
  private final Cleaner.Cleanable releaseIfLost;
  private volatile boolean released;

  View(long client, ByteBuffer data, boolean broadcast, boolean copied, Handle.Lease lease) {
    this.client = client;
    this.data = data;
    this.broadcast = broadcast;
    this.copied = copied;
    this.lease = lease;
    releaseIfLost = lease == null ? null : Handle.CLEANER.register(this, lease);
  }

  /** On a server, the client that sent it; on a client, this client's own id. */
  public long client() {
    return client;
  }

  /** On a client: whether the server broadcast it (false: sent to this client alone). */
  public boolean broadcast() {
    return broadcast;
  }

  /** Whether it is a private copy (the message was not in one piece in shared memory). */
  public boolean copied() {
    return copied;
  }

  /** The message's length in bytes. */
  public int length() {
    return data.capacity();
  }

  /**
   * The message: a read-only direct ByteBuffer, position 0, limit its length (a new one each
   * call, over the same memory). Throws IllegalStateException once released.
   */
  public ByteBuffer data() {
    if (released || (lease != null && lease.ended()))
      throw new IllegalStateException("this view was released (or its handle closed)");
    return data.duplicate();
  }

  /** Whether it was released (or its handle closed). */
  public boolean isReleased() {
    return released || (lease != null && lease.ended());
  }

  /** Lets the sender reuse the memory, and other receives go on. Twice is fine. */
  public void release() {
    released = true;
    if (releaseIfLost != null) releaseIfLost.clean();
  }

  /** {@link #release()}. */
  @Override
  public void close() {
    release();
  }
}
