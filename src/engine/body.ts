/*
Reading the body of a failing response for its error: never more than an error keeps, never longer than ky waits
for one (the attempt's `timeout`, 10 s without one). Shared by the drop-in fetch and the client.
*/

/**
Whether the response says its body is JSON: a media type whose subtype is `json` or ends in `+json`, `-json` or `.json`
(`application/json`, `application/problem+json`, `application/vnd.api+json`), as ky reads it; not `application/json-seq`
nor a parameter that says json.
*/
export const isJson = (response: Response): boolean => {
	const type = (response.headers.get('content-type') ?? '').split(';', 1)[0]?.trim().toLowerCase() ?? '';
	const slash = type.indexOf('/');
	return slash > 0 && type.endsWith('json') && (type.length - 4 === slash + 1 || '.+-'.includes(type.at(-5) ?? '/'));
};

// Read no more of an error body than an error keeps; the rest is cancelled.
const maxDataBytes = 64 * 1024;

// ky bounds its error-body reads by the attempt's timeout, 10 s when there is none: the same bound here, so that a body
// dripping a byte every few seconds cannot hold the call open.
export const maxDataReadMs = 10_000;

/** The body of a failing response, for its error: parsed JSON (by ky's `parseJson` when given), or the text when it is not JSON or not valid JSON; bounded in bytes and in time. */
export async function readData(
	response: Response,
	readMs: number,
	parseJson?: (text: string, response: Response) => unknown,
): Promise<unknown> {
	let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
	try {
		reader = response.body?.getReader();
	} catch {
		// Another reader holds the body (an afterResponse hook began reading it): the error goes without it.
		return undefined;
	}
	if (!reader) {
		return undefined;
	}
	const chunks: Uint8Array[] = [];
	let size = 0;
	// One bound for the read and the parse: cancelling the reader ends a pending read() as done (what arrived by then
	// is kept), and a parseJson still pending then is not waited for (ky bounds both by the attempt's timeout too).
	let expire!: () => void;
	const expired = new Promise<undefined>((resolve) => {
		expire = resolve as () => void;
	});
	const timer = setTimeout(() => {
		void reader.cancel().catch(() => undefined);
		expire();
	}, readMs);
	try {
		while (size < maxDataBytes) {
			const { done, value } = await reader.read();
			if (done) {
				break;
			}
			chunks.push(value);
			size += value.byteLength;
		}
	} catch {
		// A body cut off mid-way still tells something: keep what arrived.
	} finally {
		void reader.cancel().catch(() => undefined);
	}
	const bytes = new Uint8Array(size);
	let offset = 0;
	for (const chunk of chunks) {
		bytes.set(chunk.subarray(0, size - offset), offset);
		offset += chunk.byteLength;
	}
	const text = new TextDecoder().decode(bytes.subarray(0, maxDataBytes));
	try {
		if (text === '' || !isJson(response)) {
			return text || undefined;
		}
		// A parseJson that never settles must not hold the call: what it has not made by the bound, the text stands for.
		const parsed = parseJson ? await Promise.race([(async () => [await parseJson(text, response)])(), expired]) : [JSON.parse(text)];
		return parsed ? parsed[0] : text;
	} catch {
		return text;
	} finally {
		clearTimeout(timer);
	}
}
