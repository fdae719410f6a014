/**
 * Everything that goes through Redis when tracker replicas share a swarm
 * (docs/protocol.md, "Tracker replicas"): key and pub/sub channel names, all
 * under `p2p-live:<channel>:`, and the few formats that are not the tracker
 * protocol's own frames. Segment and seed frames are the tracker protocol's
 * bytes as the origin made them; replicas relay them untouched.
 */
import { CHANNEL_NAME_PATTERN } from '../shared/channel.ts';
import { MAX_PIECE_SIZE, MAX_WINDOW_SEGMENTS, MIN_PIECE_SIZE } from '../shared/limits.ts';
import { ORIGIN_KEY_PATTERN } from '../shared/tracker-protocol.ts';
import { FieldError, id, int, isObj, str } from '../shared/validate.ts';
import { type Member, REPLICA_ID, decodeMember, encodeMember } from './swarm-members.ts';

/** Set of the channels an origin has registered: replicas serve each one whose config is there. */
export const CHANNELS_KEY = 'p2p-live:channels';

export interface ChannelKeys {
  /** String, ChannelConfig JSON, with an expiry the origin refreshes while it runs. */
  config: string;
  /** List of the window's segment frames, oldest first, trimmed to the window by the origin. */
  window: string;
  /** Pub/sub: each new segment frame, published once by the origin. */
  segments: string;
  /** Sorted set: member peer id, scored by when it expires (epoch ms) unless its replica refreshes it. */
  members: string;
  /** Hash: member peer id → Member JSON. */
  memberInfo: string;
  /** Pub/sub: MemberEvent JSON. */
  memberEvents: string;
  /** Pub/sub, one per replica: seed messages for the peers joined to it. */
  seeds(replica: string): string;
}

export function channelKeys(channel: string): ChannelKeys {
  if (!CHANNEL_NAME_PATTERN.test(channel)) throw new Error(`bad channel name ${JSON.stringify(channel)}`);
  const p = `p2p-live:${channel}:`;
  return {
    config: `${p}config`,
    window: `${p}window`,
    segments: `${p}segments`,
    members: `${p}members`,
    memberInfo: `${p}member-info`,
    memberEvents: `${p}member-events`,
    seeds: (replica) => `${p}seeds:${replica}`,
  };
}

/** What a replica needs from the origin to serve a channel's tracker. */
export interface ChannelConfig {
  streamId: string;
  pieceSize: number;
  windowSegments: number;
  /** The origin's public key, for the welcome: peers verify the announcements a replica relays with it. */
  originKey: string;
}

export function decodeChannelConfig(text: string): ChannelConfig {
  const v: unknown = JSON.parse(text);
  if (!isObj(v)) throw new FieldError('channel config must be an object');
  return {
    streamId: id(v, 'streamId'),
    pieceSize: int(v, 'pieceSize', MIN_PIECE_SIZE, MAX_PIECE_SIZE),
    windowSegments: int(v, 'windowSegments', 1, MAX_WINDOW_SEGMENTS),
    originKey: str(v, 'originKey', ORIGIN_KEY_PATTERN, 44),
  };
}

export type MemberEvent = { op: 'up'; member: Member } | { op: 'left'; peerId: string; replica: string };

export function encodeMemberEvent(e: MemberEvent): string {
  return e.op === 'up' ? `{"op":"up","member":${encodeMember(e.member)}}` : JSON.stringify(e);
}

export function decodeMemberEvent(text: string): MemberEvent {
  const v: unknown = JSON.parse(text);
  if (!isObj(v)) throw new FieldError('member event must be an object');
  if (v.op === 'up') return { op: 'up', member: decodeMember(v.member) };
  if (v.op === 'left') return { op: 'left', peerId: id(v, 'peerId'), replica: str(v, 'replica', REPLICA_ID, 64) };
  throw new FieldError('unknown member event');
}

/** A seed message: u8 peer id length · the peer id (ASCII) · the seed frame the peer is to get. */
export function encodeSeedMessage(peerId: string, frame: Uint8Array): Buffer {
  const id = Buffer.from(peerId, 'ascii');
  return Buffer.concat([Buffer.from([id.byteLength]), id, frame]);
}

export function decodeSeedMessage(msg: Buffer): { peerId: string; frame: Uint8Array } {
  const n = msg[0] ?? 0;
  if (n === 0 || msg.byteLength <= 1 + n) throw new FieldError('seed message too short');
  return { peerId: msg.subarray(1, 1 + n).toString('ascii'), frame: new Uint8Array(msg.buffer, msg.byteOffset + 1 + n, msg.byteLength - 1 - n) };
}
