/**
A distribution-free 95% interval for the median of `n` sorted values: the indices of order statistics k and n + 1 - k,
where fewer than k of n rounds fall below the true median with at most 2.5% probability (binomial, p = 1/2). It says
whether a target is met, missed, or inside what one run can tell apart; undefined for too few rounds.
*/
export const medianInterval = (n: number): readonly [number, number] | undefined => {
	let below = 0;
	let choose = 1;
	let k = 0;
	for (let i = 0; i <= n; i++) {
		below += choose / 2 ** n;
		if (below > 0.025) {
			break;
		}
		k = i + 1;
		choose = (choose * (n - i)) / (i + 1);
	}
	return k >= 1 ? [k - 1, n - k] : undefined;
};
