import { adminRoute } from "./shared/authenticated.ts";
import { notFound, SessionNotFound } from "./shared/errors.ts";
import { counted, json } from "./shared/http.ts";
import { sessionIdParam } from "./shared/input.ts";
import { deleteSession } from "./shared/store/index.ts";

export const handler = adminRoute().handler(async (event) => {
  const id = sessionIdParam(event);
  await deleteSession(id, {}, { reason: "admin", actor: { type: "admin", sub: event.auth.sub } }).catch(
    (error: unknown) => {
      throw error instanceof SessionNotFound ? notFound(`Session with id ${id} not found`) : error;
    },
  );
  return counted({ sessionsDeleted: 1 }, json({ message: "Session deleted" }));
});
