// The one owner of the socket and the session: builds the session and the
// stores that follow it (stores/: connection, members, chat, notices,
// watching; each subscribes to the session events it needs), starts it and
// leaves. Components read the stores' runes state and call their methods;
// nothing else talks to the network.

import type { Identity } from "../../../protocol/crypto";
import { ClientSession } from "../../../protocol/session";
import type { RoomKeys } from "../../../protocol/e2e/roomSecret";
import { LocalCursorStore } from "./cursors";
import { LocalKeyStore } from "./keyMemory";
import { IdbV2KeyStore } from "./keystore2";
import { ChatStore } from "./stores/chat.svelte";
import { ConnectionStore } from "./stores/connection.svelte";
import { LibraryStore } from "./stores/library.svelte";
import { MembersStore } from "./stores/members.svelte";
import { NoticesStore } from "./stores/notices.svelte";
import { WatchingStore } from "./stores/watching.svelte";
import { webSocketConnector } from "./transport";

export const AGENT = "web/0.1.0";

export class RoomStore {
  readonly room: string;
  readonly name: string;
  readonly selfId: string;
  readonly connection: ConnectionStore;
  readonly members: MembersStore;
  readonly chat: ChatStore;
  readonly notices: NoticesStore;
  readonly watching: WatchingStore;
  readonly library: LibraryStore;

  private session: ClientSession;

  /** `roomKeys`: a v2 room opened from its link (web/src/lib/roomLink.ts). */
  constructor(p: { identity: Identity; room: string; name: string; url?: string; roomKeys?: RoomKeys }) {
    this.room = p.room;
    this.name = p.name;
    this.selfId = p.identity.id;
    this.session = new ClientSession({
      identity: p.identity,
      name: p.name,
      room: p.room,
      agent: AGENT,
      connect: webSocketConnector(p.url),
      keyStore: new LocalKeyStore(),
      // Sound needs WebCodecs' AudioDecoder; the stream clock works everywhere.
      caps: ["library2", ...(typeof AudioDecoder === "undefined" ? ["clock"] : ["audio", "clock"])],
      // v2: the keys others wrap to while this tab is closed stay in IndexedDB.
      ...(p.roomKeys ? { roomKeys: p.roomKeys, v2KeyStore: new IdbV2KeyStore(p.identity.id) } : {}),
      // Cap durable: resume after a reload from the cursor kept in localStorage.
      cursors: new LocalCursorStore(p.identity.id),
    });
    // Listeners run in this order on every event: the connection's phase is
    // current before the library is asked for on welcome.
    this.connection = new ConnectionStore(this.session);
    this.members = new MembersStore(this.session);
    this.chat = new ChatStore(this.session, this.members, { id: this.selfId, name: p.name });
    this.notices = new NoticesStore(this.session, this.members, this.chat);
    this.watching = new WatchingStore(this.session, this.connection, this.notices);
    this.library = new LibraryStore(
      this.session,
      () => this.connection.phase === "online",
      () => this.watching.loadVideos(),
    );
  }

  start(): void {
    this.session.start();
  }

  /** Leaves the room (sends `quit`). */
  leave(): void {
    this.session.stop();
  }
}
