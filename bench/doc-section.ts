// A generated section of a docs page, between two HTML comments (`<!-- name:start -->` … `<!-- name:end -->`): the
// benchmark drivers rewrite their own section and leave the rest of the page as it is.
import { readFileSync, writeFileSync } from 'node:fs';

export interface DocSection {
	readonly start: string;
	readonly end: string;
	/** The page, for messages. */
	readonly page: string;
	/** Whether a page with neither marker gets the section appended (a new section), or is an error. */
	readonly append: boolean;
}

export const docSection = (name: string, page: string, append: boolean): DocSection => ({
	start: `<!-- ${name}:start -->`,
	end: `<!-- ${name}:end -->`,
	page,
	append,
});

/** `doc` with the section (markers included) in place of the one between the markers. */
export function replaceSection(doc: string, section: string, { start: startMarker, end: endMarker, page, append }: DocSection): string {
	const start = doc.indexOf(startMarker);
	const end = doc.indexOf(endMarker);
	if (start < 0 && end < 0 && append) {
		return `${doc.trimEnd()}\n\n${section}\n`;
	}
	if (start < 0 || end < start) {
		throw new Error(`${page} lacks a pair of markers ${startMarker} and ${endMarker}.`);
	}
	return doc.slice(0, start) + section + doc.slice(end + endMarker.length);
}

/** The section of `doc`, markers included; undefined when it has none. */
export function sectionOf(doc: string, { start: startMarker, end: endMarker }: DocSection): string | undefined {
	const start = doc.indexOf(startMarker);
	const end = doc.indexOf(endMarker);
	return start < 0 || end < start ? undefined : doc.slice(start, end + endMarker.length);
}

/** `--report`: the page's section rendered again from the results file alone, without measuring; the results' date. */
export function renderFromFile<Results extends { readonly date: string }>(
	jsonPath: string,
	docPath: string,
	render: (results: Results) => string,
	markers: DocSection,
): string {
	const results = JSON.parse(readFileSync(jsonPath, 'utf8')) as Results;
	writeFileSync(docPath, replaceSection(readFileSync(docPath, 'utf8'), render(results), markers));
	return results.date;
}

/** What every benchmark's results file says of its run, first: when, by which command, how long, on what machine. */
export interface RunInfo {
	readonly date: string;
	readonly command: string;
	readonly seconds: number;
	readonly machine: { readonly cpus: number; readonly cpu: string; readonly node: string; readonly platform: string };
}
