/* Smoke driver for libFuzzer targets without libFuzzer: runs every file of the seed corpus directory
 * given as argv[1], then a bounded number of deterministic random mutations of each seed (byte flips,
 * truncations, insertions). Under the sanitizer build any memory error aborts the test. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FC_MAX_SEED (1 << 20)

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)rng;
}

static void mutate_and_run(const uint8_t *seed, size_t len, int rounds)
{
	uint8_t *buf = malloc(len + 64);
	if (!buf)
		abort();
	for (int r = 0; r < rounds; r++) {
		size_t n = len;
		memcpy(buf, seed, len);
		int edits = 1 + (int)(next_rand() % 8);
		for (int e = 0; e < edits; e++) {
			uint32_t op = next_rand() % 4;
			if (op == 0 && n) { /* flip a byte */
				buf[next_rand() % n] ^= (uint8_t)(1u << (next_rand() % 8));
			} else if (op == 1 && n) { /* truncate */
				n = next_rand() % n;
			} else if (op == 2 && n < len + 64) { /* insert an interesting byte */
				static const uint8_t interesting[] = {0, '"', '{', '}', '[', ']', ':', ',', '\\', 0xff, '\n', '='};
				size_t at = n ? next_rand() % n : 0;
				memmove(buf + at + 1, buf + at, n - at);
				buf[at] = interesting[next_rand() % sizeof interesting];
				n++;
			} else if (n) { /* random byte */
				buf[next_rand() % n] = (uint8_t)next_rand();
			}
		}
		uint8_t *exact = malloc(n ? n : 1); /* exact-size copy so ASan catches overreads */
		if (!exact)
			abort();
		memcpy(exact, buf, n);
		LLVMFuzzerTestOneInput(exact, n);
		free(exact);
	}
	free(buf);
}

int main(int argc, char **argv)
{
	int rounds = getenv("FC_FUZZ_ROUNDS") ? atoi(getenv("FC_FUZZ_ROUNDS")) : 2000;
	size_t files = 0;
	if (argc > 1) {
		DIR *d = opendir(argv[1]);
		if (!d) {
			fprintf(stderr, "no seed corpus at %s\n", argv[1]);
			return 1;
		}
		struct dirent *de;
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			char path[4096];
			snprintf(path, sizeof path, "%s/%s", argv[1], de->d_name);
			FILE *f = fopen(path, "rb");
			if (!f)
				continue;
			uint8_t *data = malloc(FC_MAX_SEED);
			if (!data)
				abort();
			size_t n = fread(data, 1, FC_MAX_SEED, f);
			fclose(f);
			uint8_t *exact = malloc(n ? n : 1);
			memcpy(exact, data, n);
			LLVMFuzzerTestOneInput(exact, n);
			mutate_and_run(exact, n, rounds);
			free(exact);
			free(data);
			files++;
		}
		closedir(d);
	}
	LLVMFuzzerTestOneInput((const uint8_t *)"", 0);
	if (!files) {
		fprintf(stderr, "seed corpus %s is empty\n", argc > 1 ? argv[1] : "(none)");
		return 1;
	}
	printf("%zu seeds, %d mutations each: no crash\n", files, rounds);
	return 0;
}
