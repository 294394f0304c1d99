/* nsm-eif: what its two source files share (the program's own, not the library's). */
#ifndef NSMKIT_NSM_EIF_H
#define NSMKIT_NSM_EIF_H

/* Prints the usage to stderr; returns 2. */
int nsmeif_usage(void);
int nsmeif_cmd_list(int argc, char **argv);
int nsmeif_cmd_corpus(int argc, char **argv);
int nsmeif_cmd_grade(int argc, char **argv);

#endif /* NSMKIT_NSM_EIF_H */
