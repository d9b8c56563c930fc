// Loads purple_bridge.node (native/bridge/, built by `npm run build:native`) and gives it the
// typed face of api.ts. libpurple runs once per process: openBridge() can be called once; run
// more clients as child processes (test/support/bridge-process.ts).
import { EventEmitter } from "node:events";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type {
  AccountInfo,
  AccountRef,
  Bridge,
  BridgeEventName,
  BridgeEvents,
  BridgeOptions,
  BuddyInfo,
  PluginInfo,
  SettingValue,
} from "./api.js";

/** The addon as cmake-js builds it, from the repository root (this file runs from dist/src/bridge/). */
export const ADDON_PATH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../build/native/Release/purple_bridge.node");

/** What the addon exports (native/bridge/bridge.cc and accounts.cc). */
interface Addon {
  open(options: BridgeOptions, emit: (event: string, json: string) => void): void;
  start(): void;
  close(): void;
  flush(): number;
  libpurpleVersion(): string;
  loadPlugin(path: string): PluginInfo;
  unloadPlugin(id: string): boolean;
  plugins(): PluginInfo[];
  runPluginAction(id: string, label: string): void;
  getPref(name: string): SettingValue | string[] | null;
  setPref(name: string, value: SettingValue): void;
  accounts(): AccountInfo[];
  addAccount(ref: AccountRef): AccountInfo;
  removeAccount(ref: AccountRef): void;
  getSetting(ref: AccountRef, name: string, type: "string" | "int" | "bool"): SettingValue | null;
  setSetting(ref: AccountRef, name: string, value: SettingValue): void;
  setPassword(ref: AccountRef, password: string, remember?: boolean): void;
  setUsername(ref: AccountRef, username: string): void;
  setEnabled(ref: AccountRef, enabled: boolean): void;
  sendIm(ref: AccountRef, to: string, text: string): void;
  addBuddy(ref: AccountRef, who: string, alias?: string, group?: string): void;
  buddies(ref: AccountRef): BuddyInfo[];
  respondAuthorization(id: number, accept: boolean): void;
  answerRequest(id: number, answer: string | number | Record<string, SettingValue> | null): void;
  joinChat(ref: AccountRef, room: string, nick: string): void;
  sendChat(ref: AccountRef, room: string, text: string): void;
  chatUsers(ref: AccountRef, room: string): string[];
  leaveChat(ref: AccountRef, room: string): void;
  sendFile(ref: AccountRef, who: string, filePath: string): void;
  acceptFile(id: number, destPath: string | null): void;
  setIcon(ref: AccountRef, imagePath: string | null): void;
  setIdle(ref: AccountRef, idleSeconds: number): void;
}

let addon: Addon | undefined;

function loadAddon(): Addon {
  if (addon) return addon;
  if (!existsSync(ADDON_PATH)) {
    throw new Error(`${ADDON_PATH} is not built (apt-get install libpurple-dev libjson-glib-dev cmake, then npm run build:native)`);
  }
  addon = createRequire(import.meta.url)(ADDON_PATH) as Addon;
  return addon;
}

class PurpleBridge implements Bridge {
  private readonly events = new EventEmitter();
  readonly libpurpleVersion: string;

  constructor(private readonly native: Addon, options: BridgeOptions) {
    // Listeners may be many (tests wait on several events at once).
    this.events.setMaxListeners(0);
    native.open(options, (event, json) => this.events.emit(event, JSON.parse(json)));
    this.libpurpleVersion = native.libpurpleVersion();
  }

  on<E extends BridgeEventName>(event: E, fn: (data: BridgeEvents[E]) => void): this {
    this.events.on(event, fn);
    return this;
  }

  off<E extends BridgeEventName>(event: E, fn: (data: BridgeEvents[E]) => void): this {
    this.events.off(event, fn);
    return this;
  }

  start(): void {
    this.native.start();
  }
  loadPlugin(file: string): PluginInfo {
    return this.native.loadPlugin(file);
  }
  unloadPlugin(id: string): boolean {
    return this.native.unloadPlugin(id);
  }
  plugins(): PluginInfo[] {
    return this.native.plugins();
  }
  runPluginAction(pluginId: string, label: string): void {
    this.native.runPluginAction(pluginId, label);
  }
  getPref(name: string): SettingValue | string[] | null {
    return this.native.getPref(name);
  }
  setPref(name: string, value: SettingValue): void {
    this.native.setPref(name, value);
  }
  accounts(): AccountInfo[] {
    return this.native.accounts();
  }
  addAccount(ref: AccountRef): AccountInfo {
    return this.native.addAccount(ref);
  }
  removeAccount(ref: AccountRef): void {
    this.native.removeAccount(ref);
  }
  getSetting(ref: AccountRef, name: string, type: "string" | "int" | "bool"): SettingValue | null {
    return this.native.getSetting(ref, name, type);
  }
  setSetting(ref: AccountRef, name: string, value: SettingValue): void {
    this.native.setSetting(ref, name, value);
  }
  setPassword(ref: AccountRef, password: string, remember?: boolean): void {
    this.native.setPassword(ref, password, remember);
  }
  setUsername(ref: AccountRef, username: string): void {
    this.native.setUsername(ref, username);
  }
  setEnabled(ref: AccountRef, enabled: boolean): void {
    this.native.setEnabled(ref, enabled);
  }
  flush(): number {
    return this.native.flush();
  }
  sendIm(ref: AccountRef, to: string, text: string): void {
    this.native.sendIm(ref, to, text);
  }
  addBuddy(ref: AccountRef, who: string, alias?: string, group?: string): void {
    this.native.addBuddy(ref, who, alias, group);
  }
  buddies(ref: AccountRef): BuddyInfo[] {
    return this.native.buddies(ref);
  }
  respondAuthorization(id: number, accept: boolean): void {
    this.native.respondAuthorization(id, accept);
  }
  answerRequest(id: number, answer: string | number | Record<string, SettingValue> | null): void {
    this.native.answerRequest(id, answer);
  }
  joinChat(ref: AccountRef, room: string, nick: string): void {
    this.native.joinChat(ref, room, nick);
  }
  sendChat(ref: AccountRef, room: string, text: string): void {
    this.native.sendChat(ref, room, text);
  }
  chatUsers(ref: AccountRef, room: string): string[] {
    return this.native.chatUsers(ref, room);
  }
  leaveChat(ref: AccountRef, room: string): void {
    this.native.leaveChat(ref, room);
  }
  sendFile(ref: AccountRef, who: string, filePath: string): void {
    this.native.sendFile(ref, who, filePath);
  }
  acceptFile(id: number, destPath: string | null): void {
    this.native.acceptFile(id, destPath);
  }
  setIcon(ref: AccountRef, imagePath: string | null): void {
    this.native.setIcon(ref, imagePath);
  }
  setIdle(ref: AccountRef, idleSeconds: number): void {
    this.native.setIdle(ref, idleSeconds);
  }
  close(): void {
    this.native.close();
  }
}

/** Start libpurple in this process (once per process). Saved accounts connect on start(). */
export function openBridge(options: BridgeOptions): Bridge {
  return new PurpleBridge(loadAddon(), options);
}
