/* version.h: guardlet's version string. */
#ifndef GUARDLET_VERSION_H
#define GUARDLET_VERSION_H

#define GL_VERSION "0.1.0"

#endif
