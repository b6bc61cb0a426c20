/** A counter's value as `GET /metrics` reports it: what an operator scraping the hub sees. */

/** Sum of `name`'s samples over all its labels, scraped from the hub at `httpUrl`. */
export async function scrapedCounter(httpUrl: string, name: string): Promise<number> {
  const text = await (await fetch(`${httpUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}
