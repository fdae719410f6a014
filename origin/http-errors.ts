import type { ErrorRequestHandler } from 'express';
import type { Logger } from 'pino';

/** The fields body-parser, the router and serve-static put on the errors they pass on (http-errors). */
interface HttpError extends Error {
  status?: unknown;
  statusCode?: unknown;
  type?: unknown;
}

type HttpErrorCode = 'ERR_ABORTED' | 'ERR_TOO_LARGE' | 'ERR_NOT_FOUND' | 'ERR_BAD_REQUEST' | 'ERR_INTERNAL';

const MESSAGES: Record<HttpErrorCode, string> = {
  ERR_ABORTED: 'request aborted',
  ERR_TOO_LARGE: 'request body too large',
  ERR_NOT_FOUND: 'not found',
  ERR_BAD_REQUEST: 'bad request',
  ERR_INTERNAL: 'internal error',
};

function classifyHttpError(err: HttpError): { status: number; code: HttpErrorCode } {
  const given = err.status ?? err.statusCode;
  const status = typeof given === 'number' && Number.isInteger(given) && given >= 400 && given <= 599 ? given : 500;
  if (err.type === 'request.aborted') return { status, code: 'ERR_ABORTED' };
  if (status === 413) return { status, code: 'ERR_TOO_LARGE' };
  if (status === 404) return { status, code: 'ERR_NOT_FOUND' };
  return { status, code: status >= 500 ? 'ERR_INTERNAL' : 'ERR_BAD_REQUEST' };
}

/**
 * The last handler of every origin app. Express's own would answer with the
 * stack trace in the page and print it to stderr (an aborted ingest upload
 * did); this one answers `<code>: <message>` on one line, with a fixed
 * message so nothing from the request is reflected. What went wrong goes to
 * the log: a client's doing at info (an upload cut off, routine when ffmpeg
 * restarts, at debug), ours at error with the stack, for the operator only.
 */
export function httpErrorHandler(log: Logger): ErrorRequestHandler {
  return (err: HttpError, req, res, _next) => {
    const { status, code } = classifyHttpError(err);
    // An ingest path holds the stream key, which never goes to the log.
    const where = { method: req.method, path: req.path.startsWith('/ingest/') ? '/ingest/…' : req.path, status, code };
    if (status >= 500) log.error({ ...where, err }, 'http request failed');
    else if (code === 'ERR_ABORTED') log.debug({ ...where, message: err.message }, 'http request aborted');
    else log.info({ ...where, message: err.message }, 'http request refused');
    if (res.headersSent || req.socket.destroyed) {
      // Half an answer is already out (or nobody is listening): only closing the connection tells the truth.
      req.socket.destroy();
      return;
    }
    res.status(status).type('text/plain').set('X-Content-Type-Options', 'nosniff').send(`${code}: ${MESSAGES[code]}\n`);
  };
}
