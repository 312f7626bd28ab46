import type { Session } from "../shared/store.ts";

// The session item as the table holds it (the layout functions/shared/store writes). Kept here until
// the store exports its own layout; the events function reads stream images with it.

export interface EndedMarker {
  at: string;
  reason: "user" | "user_all" | "user_others" | "admin" | "admin_user" | "limit";
  actor: { type: "user" | "admin" | "system"; sub?: string };
}

export interface SessionItem {
  id: string;
  userId: string;
  feed: string;
  createdAt: string;
  updatedAt: string;
  expiresAt: string;
  ttl: number;
  isActive: boolean;
  deactivatedAt?: string;
  ipAddress?: string;
  userAgent?: string;
  profile?: string;
  tokenDigest?: string;
  createdBy?: string;
  deactivatedBy?: string;
  lastActiveAt?: string;
  idleExpiresAt?: string;
  ended?: EndedMarker;
}

export function isSessionItem(item: Record<string, unknown>): boolean {
  return typeof item.id === "string" && !item.id.includes("#") && typeof item.userId === "string";
}

export function fromItem(item: SessionItem): Session {
  return {
    id: item.id,
    userId: item.userId,
    createdAt: item.createdAt,
    updatedAt: item.updatedAt,
    expiresAt: item.expiresAt,
    isActive: item.isActive,
    deactivatedAt: item.deactivatedAt ?? null,
    ipAddress: item.ipAddress ?? null,
    userAgent: item.userAgent ?? null,
    profile: item.profile ? (JSON.parse(item.profile) as Record<string, unknown>) : null,
  };
}
