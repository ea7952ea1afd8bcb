/**
 * The framed control channel's wire format (proto/prism/control/v1/control.proto, ChannelHello):
 * the Session stream's messages over a plain TCP connection, each frame a 4-byte big-endian
 * length and one protobuf message. The hand-off path pays one small write and one read per
 * message instead of HTTP/2 framing and grpc-js's call layers on both ends (docs/protobuf.md,
 * docs/architecture.md "The hot path").
 *
 * Messages are the same objects the Session stream carries (CONVERSION_OPTIONS shapes), encoded
 * and decoded exactly as grpc-js does it (fromObject then encode; decode then toObject).
 */
import type { Socket } from 'node:net';
import type protobuf from 'protobufjs';
import { ProtoError } from './errors.js';
import { CONVERSION_OPTIONS, lookupMessageType } from './proto.js';

/** Largest frame either side accepts (bytes of one message). */
export const MAX_CHANNEL_FRAME = 64 * 1024 * 1024;
const HEADER = 4;

type Obj = Record<string, any>;

/** Encodes and decodes one message type the way grpc-js's generated serializers do. */
export class MessageCodec {
  readonly #type: protobuf.Type;
  constructor(fullName: string) {
    this.#type = lookupMessageType(fullName);
  }

  /** One frame: the length and the encoded message. */
  frame(obj: Obj): Buffer {
    const w = this.#type.encode(this.#type.fromObject(obj));
    // Reserve the header in front of the message: one buffer, one write.
    const len = w.len;
    const buf = Buffer.allocUnsafe(HEADER + len);
    buf.writeUInt32BE(len, 0);
    const bytes = w.finish();
    buf.set(bytes, HEADER);
    return buf;
  }

  decode(bytes: Uint8Array): Obj {
    try {
      return this.#type.toObject(this.#type.decode(bytes), CONVERSION_OPTIONS);
    } catch (err) {
      throw new ProtoError(`cannot decode ${this.#type.fullName.slice(1)}: ${(err as Error).message}`, { cause: err });
    }
  }
}

let controllerCodec: MessageCodec | undefined;
let agentCodec: MessageCodec | undefined;
/** prism.control.v1.ControllerMessage (controller → agent). */
export const controllerMessages = (): MessageCodec => (controllerCodec ??= new MessageCodec('prism.control.v1.ControllerMessage'));
/** prism.control.v1.AgentMessage (agent → controller). */
export const agentMessages = (): MessageCodec => (agentCodec ??= new MessageCodec('prism.control.v1.AgentMessage'));

/**
 * Cuts a byte stream into frames. push() returns the complete frames' payloads, in order; a
 * frame longer than MAX_CHANNEL_FRAME is a ProtoError (the caller closes the connection).
 */
export class FrameReader {
  #buf: Buffer = Buffer.alloc(0);
  /** The largest frame accepted now (an agent lowers it until the hello is accepted). */
  limit = MAX_CHANNEL_FRAME;

  push(chunk: Buffer): Buffer[] {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    const out: Buffer[] = [];
    let at = 0;
    while (this.#buf.length - at >= HEADER) {
      const len = this.#buf.readUInt32BE(at);
      if (len > this.limit) throw new ProtoError(`a control channel frame of ${len} bytes is over the ${this.limit}-byte limit`);
      if (this.#buf.length - at - HEADER < len) break;
      out.push(this.#buf.subarray(at + HEADER, at + HEADER + len));
      at += HEADER + len;
    }
    this.#buf = at === this.#buf.length ? Buffer.alloc(0) : this.#buf.subarray(at);
    return out;
  }

  /** Bytes of an incomplete frame held. */
  get pending(): number {
    return this.#buf.length;
  }
}

/**
 * Reads decoded messages off a socket: `onMessage` for each, `onError` once for a malformed
 * frame or message (the socket is destroyed then).
 */
export function readMessages(socket: Socket, codec: MessageCodec, onMessage: (m: Obj) => void, onError: (err: Error) => void): FrameReader {
  const reader = new FrameReader();
  socket.on('data', (chunk: Buffer) => {
    let frames: Buffer[];
    try {
      frames = reader.push(chunk);
    } catch (err) {
      onError(err as Error);
      socket.destroy();
      return;
    }
    for (const f of frames) {
      let m: Obj;
      try {
        m = codec.decode(f);
      } catch (err) {
        onError(err as Error);
        socket.destroy();
        return;
      }
      onMessage(m);
      if (socket.destroyed) return;
    }
  });
  return reader;
}

/** The largest frame an agent accepts before the hello: a hello is a token, not megabytes. */
export const MAX_HELLO_FRAME = 64 * 1024;
