package dev.burrow.driver.runc.internal;

import java.nio.file.Path;

import dev.burrow.core.driver.ImageFacet.ProgressListener;

/**
 * Entry point of the child JVMs in {@code OciImageStoreTest.twoProcessesPreparingOneImageBuildItOnce}: prepares
 * one reference in a given image directory and prints {@code <digest> <builds>} as its last line.
 */
public final class PrepareImageInChildProcess {
    private PrepareImageInChildProcess() { }

    public static void main(String[] args) {
        OciImageStore store = new OciImageStore(Path.of(args[0]));
        UnpackedImage image = store.prepare(args[1], ProgressListener.NONE);
        System.out.println(image.digest() + " " + store.builds());
    }
}
